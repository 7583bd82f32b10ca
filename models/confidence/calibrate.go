package confidence

import (
	"errors"
	"fmt"
	"math"
)

// Calibration is a logistic model over named signals:
//
//	P(supported) = 1 / (1 + exp(-(Bias + Σ Weight·signal)))
//
// "Supported" means the cited passages hold the answer. A signal absent from
// the map counts as 0, i.e. as no support: an answer is never rated higher
// for a measurement that could not be made.
type Calibration struct {
	Bias     float64
	Features []Feature
}

// Feature is one signal's weight in a Calibration.
type Feature struct {
	Signal string
	Weight float64
}

// Probability applies the model to sig.
func (c Calibration) Probability(sig map[string]float64) float64 {
	z := c.Bias
	for _, f := range c.Features {
		if v, ok := sig[f.Signal]; ok && !math.IsNaN(v) {
			z += f.Weight * clamp01(v)
		}
	}
	return sigmoid(z)
}

func sigmoid(z float64) float64 {
	switch {
	case math.IsNaN(z):
		return 0
	case z > 40:
		return 1
	case z < -40:
		return 0
	}
	return 1 / (1 + math.Exp(-z))
}

// Sample is one labelled observation for Fit.
type Sample struct {
	Signals   map[string]float64
	Supported bool
}

// Fit finds the Calibration over the named signals that maximises the
// likelihood of the labels, with a small L2 penalty (lambda, on the weights
// only) that keeps the weights finite when a signal separates the samples
// perfectly. It uses Newton's method, which converges in a handful of steps
// for a few features; samples are weighted equally.
func Fit(samples []Sample, signals []string, lambda float64) (Calibration, error) {
	if len(samples) == 0 {
		return Calibration{}, errors.New("fit: no samples")
	}
	k := len(signals) + 1 // bias first
	x := make([]float64, k)
	w := make([]float64, k)
	for iter := 0; iter < 50; iter++ {
		grad := make([]float64, k)
		hess := make([]float64, k*k)
		for _, s := range samples {
			x[0] = 1
			for i, name := range signals {
				x[i+1] = 0
				if v, ok := s.Signals[name]; ok && !math.IsNaN(v) {
					x[i+1] = clamp01(v)
				}
			}
			var z float64
			for i := range k {
				z += w[i] * x[i]
			}
			p := sigmoid(z)
			y := 0.0
			if s.Supported {
				y = 1
			}
			for i := range k {
				grad[i] += (y - p) * x[i]
				for j := range k {
					hess[i*k+j] += p * (1 - p) * x[i] * x[j]
				}
			}
		}
		for i := 1; i < k; i++ {
			grad[i] -= lambda * w[i]
			hess[i*k+i] += lambda
		}
		hess[0] += 1e-9
		step, err := solve(hess, grad, k)
		if err != nil {
			return Calibration{}, fmt.Errorf("fit: %w", err)
		}
		var norm float64
		for i := range k {
			w[i] += step[i]
			norm = max(norm, math.Abs(step[i]))
		}
		if norm < 1e-9 {
			break
		}
	}
	c := Calibration{Bias: w[0]}
	for i, name := range signals {
		c.Features = append(c.Features, Feature{Signal: name, Weight: w[i+1]})
	}
	return c, nil
}

// solve solves the k×k system a·x = b by Gaussian elimination with partial
// pivoting; a and b are overwritten.
func solve(a, b []float64, k int) ([]float64, error) {
	for c := range k {
		p := c
		for r := c + 1; r < k; r++ {
			if math.Abs(a[r*k+c]) > math.Abs(a[p*k+c]) {
				p = r
			}
		}
		if math.Abs(a[p*k+c]) < 1e-12 {
			return nil, errors.New("singular system: a signal is constant or a copy of another")
		}
		if p != c {
			for j := range k {
				a[c*k+j], a[p*k+j] = a[p*k+j], a[c*k+j]
			}
			b[c], b[p] = b[p], b[c]
		}
		for r := c + 1; r < k; r++ {
			f := a[r*k+c] / a[c*k+c]
			for j := c; j < k; j++ {
				a[r*k+j] -= f * a[c*k+j]
			}
			b[r] -= f * b[c]
		}
	}
	x := make([]float64, k)
	for r := k - 1; r >= 0; r-- {
		s := b[r]
		for j := r + 1; j < k; j++ {
			s -= a[r*k+j] * x[j]
		}
		x[r] = s / a[r*k+r]
	}
	return x, nil
}

// Model estimates the probability that an answer is supported by the
// passages it cites, as the product of two calibrated parts:
//
//   - Held: the probability that the shards searched hold the evidence for
//     the question at all, from retrieval signals only;
//   - Answer: the probability that the answer holds it, given that the
//     evidence is held, from retrieval signals and the answer's own
//     coverage of the question.
//
// Fitting the two apart keeps each one about one thing: a node that lacks
// the evidence abstains whatever its answerer did, and among held
// questions the answer's quality decides.
type Model struct {
	Held, Answer Calibration
}

// Probability is Held × Answer over sig.
func (m Model) Probability(sig map[string]float64) float64 {
	return clamp01(m.Held.Probability(sig) * m.Answer.Probability(sig))
}

// HeldSignals are the signals Model.Held weighs: retrieval only, measured
// before any answer is written.
func HeldSignals() []string {
	return []string{SignalPassageCoverage, SignalTermCoverage, SignalTopScoreNorm, SignalMargin,
		SignalMissingRare, SignalUnseenMass, SignalPhraseCoverage}
}

// AnswerSignals are the signals Model.Answer weighs: retrieval and the
// answer's coverage of the question, which every route measures the same
// way (the node computes it from the answer text, whoever wrote it).
func AnswerSignals() []string {
	return append(HeldSignals(), SignalAnswerIDFCoverage)
}

// BeforeAnswer estimates the confidence from retrieval alone, before any
// answer is written, by taking the answer to cover what the best passage
// holds. A node uses it to choose an answer's route before streaming it.
func BeforeAnswer(r Retrieval, m Model) float64 {
	r.AnswerCoverage, r.HasAnswerCoverage = r.PassageCoverage, r.HasPassageCoverage
	return Score(r, nil, Generation{}, m).Confidence
}
