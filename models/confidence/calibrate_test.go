package confidence

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestFitRecoversModel draws labels from a known logistic model and checks
// that Fit finds its weights again, and that the fitted probabilities are
// calibrated: in each tenth of predicted probability the observed share of
// positives is close to the mean prediction.
func TestFitRecoversModel(t *testing.T) {
	want := Calibration{Bias: -3, Features: []Feature{{"a", 4}, {"b", 2}}}
	rng := rand.New(rand.NewPCG(1, 2))
	var samples []Sample
	for range 20000 {
		sig := map[string]float64{"a": rng.Float64(), "b": rng.Float64()}
		samples = append(samples, Sample{Signals: sig, Supported: rng.Float64() < want.Probability(sig)})
	}
	got, err := Fit(samples, []string{"a", "b"}, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got.Bias-want.Bias) > 0.25 {
		t.Errorf("bias %v, want %v", got.Bias, want.Bias)
	}
	for i, f := range got.Features {
		if math.Abs(f.Weight-want.Features[i].Weight) > 0.3 {
			t.Errorf("%s weight %v, want %v", f.Signal, f.Weight, want.Features[i].Weight)
		}
	}
	var n, pred, obs [10]float64
	for _, s := range samples {
		p := got.Probability(s.Signals)
		b := min(9, int(p*10))
		n[b]++
		pred[b] += p
		if s.Supported {
			obs[b]++
		}
	}
	for b := range n {
		if n[b] < 500 {
			continue
		}
		if d := math.Abs(pred[b]/n[b] - obs[b]/n[b]); d > 0.05 {
			t.Errorf("bin %d: mean prediction %.3f, observed %.3f", b, pred[b]/n[b], obs[b]/n[b])
		}
	}
}

func TestFitErrors(t *testing.T) {
	if _, err := Fit(nil, []string{"a"}, 1); err == nil {
		t.Error("no samples: want an error")
	}
	same := []Sample{{Signals: map[string]float64{"a": 0.5, "b": 0.5}, Supported: true},
		{Signals: map[string]float64{"a": 0.5, "b": 0.5}}}
	if _, err := Fit(same, []string{"a", "b"}, 0); err == nil {
		t.Error("two identical signals without penalty: want a singular-system error")
	}
}

func TestModelProbability(t *testing.T) {
	m := Model{
		Held:   Calibration{Bias: 0, Features: []Feature{{"x", 2}}},
		Answer: Calibration{Bias: 1},
	}
	sig := map[string]float64{"x": 0.5}
	want := sigmoid(1) * sigmoid(1)
	if got := m.Probability(sig); !near(got, want) {
		t.Errorf("Probability = %v, want %v", got, want)
	}
	// An absent signal counts as 0, NaN too; values clamp into [0,1].
	if got, want := m.Probability(nil), sigmoid(0)*sigmoid(1); !near(got, want) {
		t.Errorf("absent signal: %v, want %v", got, want)
	}
	if got, want := m.Probability(map[string]float64{"x": math.NaN()}), sigmoid(0)*sigmoid(1); !near(got, want) {
		t.Errorf("NaN signal: %v, want %v", got, want)
	}
	if got, want := m.Probability(map[string]float64{"x": 9}), sigmoid(2)*sigmoid(1); !near(got, want) {
		t.Errorf("out-of-range signal: %v, want %v", got, want)
	}
}
