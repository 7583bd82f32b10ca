package confidence

import (
	"math"
	"slices"
)

// Online learns, on one edge, where to answer: the probability that asking
// central would not change the answer it serves. Every question an edge
// escalates comes back with central's answer, and that answer labels the
// edge's own (Settled: central ranked alike, abstained, or was no better
// supported). Those labels fit a Platt-style map over the model's
// confidence,
//
//	route confidence = σ(Scale·logit(model confidence) + Offset)
//
// so that on a collection the model was never fitted on, the figure an edge
// routes on becomes, measured on its own traffic, the probability that an
// escalation would be wasted. The escalation threshold keeps its meaning
// (escalate-below on that scale) while the model confidence it corresponds
// to moves, within OnlineOptions' Floor and Ceiling. Whether the passages
// support an answer at all stays the model's estimate (the node may lower
// it with the route confidence, never raise it).
//
// Every part of the update is bounded: the labels are the last Window
// outcomes, the fit is pulled toward a starting map (OnlineOptions.Start) by Prior pseudo-labels
// (few labels move it little), and each label moves Scale and Offset by at
// most Step towards the window's fit. A selection on the raw confidence (an
// edge only hears back about the questions it escalated) does not bias a
// fit of P(settled | raw), it only leaves the fit to extrapolate above the
// highest escalated confidence, which the bounds keep modest.
//
// The zero Online is not usable; start from NewOnline. Online is a value:
// callers that share one guard it themselves.
type Online struct {
	Scale  float64 `json:"scale"`
	Offset float64 `json:"offset"`
	// Outcomes are the labelled outcomes in the window, oldest first.
	Outcomes []Outcome `json:"outcomes"`
	// Labels counts every outcome ever observed, including those that
	// have left the window.
	Labels int64 `json:"labels"`
}

// Outcome is one labelled question: the confidence the model had in the
// node's own answer (before recalibration) and whether the better-informed
// answer settled on it (Settled). The field keeps its stored name "agreed"
// so that recalibrations persisted before the label widened still load.
type Outcome struct {
	Raw    float64 `json:"raw"`
	Agreed bool    `json:"agreed"`
}

// OnlineOptions bound the recalibration. A zero field takes the default in
// its comment; DefaultOnlineOptions returns them all. They were chosen on
// cranfield and squad-v1.1-dev only (BENCHMARKS.md, "thresholds that adapt").
type OnlineOptions struct {
	// Window is how many of the latest outcomes the fit uses (256): enough
	// that one odd hour does not swing it, few enough to follow a shift in
	// what users ask.
	Window int
	// Step is the most Scale or Offset move per outcome (0.25).
	Step float64
	// Prior is the weight, in outcomes, of the pull toward Start (8):
	// with fewer labels than that the fit stays close to it.
	Prior float64
	// Floor and Ceiling bound the raw confidence the escalation threshold
	// may correspond to (0.02 and 0.9): however the labels fall, an edge
	// keeps escalating what retrieval found next to nothing for, and never
	// escalates a near-certain answer.
	Floor, Ceiling float64
	// Start is the map an edge routes on before its first label, and the
	// centre the fit is pulled toward with Prior's weight (priorScale, priorOffset;
	// NewOnline() for the model as fitted). Its labels are ignored.
	Start Online
}

// priorScale and priorOffset are the map an edge starts from and is pulled toward
// (OnlineOptions.Start): the mean of the maps the eight edges of 'edgerag
// eval --fleet 4' learned from the identity on cranfield and
// squad-v1.1-dev (BENCHMARKS.md, "the settled label"). Its raw threshold
// at escalate-below 0.5 is 0.24 where the identity's is 0.5: on both sets,
// and on every edge, asking central was wasted on more of the answers
// than their support says, since an edge's own site asks most of its
// questions. An edge that hears back seldom routed as if it had never
// learned that; from this start it needs its labels only to find its own
// way (cranfield's edges hear 12-18 labels: 0.80 -> 0.87 of home
// questions kept local at 1.112 of central's nDCG@10).
const priorScale, priorOffset = 0.56, 0.65

// Bounds on the map itself: a scale outside [1/4, 4] would mean the
// model's ordering of answers is all but ignored or turned into a step.
const (
	minScale = 0.25
	maxScale = 4
	// rawEps keeps logit finite: a raw confidence of 0 (nothing retrieved)
	// counts as 0.001.
	rawEps = 1e-3
)

// DefaultOnlineOptions returns the options a zero OnlineOptions stands for.
func DefaultOnlineOptions() OnlineOptions {
	return OnlineOptions{Window: 256, Step: 0.25, Prior: 8, Floor: 0.02, Ceiling: 0.9, Start: Online{Scale: priorScale, Offset: priorOffset}}
}

func (o OnlineOptions) withDefaults() OnlineOptions {
	d := DefaultOnlineOptions()
	if o.Window <= 0 {
		o.Window = d.Window
	}
	if !(o.Step > 0) {
		o.Step = d.Step
	}
	if !(o.Prior > 0) {
		o.Prior = d.Prior
	}
	if !(o.Floor > 0 && o.Floor < 1) {
		o.Floor = d.Floor
	}
	if !(o.Ceiling > o.Floor && o.Ceiling < 1) {
		o.Ceiling = max(d.Ceiling, o.Floor)
	}
	if !o.Start.Valid() {
		o.Start = d.Start
	}
	o.Start.Outcomes, o.Start.Labels = nil, 0
	return o
}

// NewOnline returns the identity recalibration: no labels yet.
func NewOnline() Online { return Online{Scale: 1} }

// Initial returns the map an edge starts from before any label (opt's
// Start, the identity by default).
func (o OnlineOptions) Initial() Online { return o.withDefaults().Start }

// Valid reports whether o is usable (as loaded from storage, say): finite
// parameters inside their bounds. An invalid Online should be replaced by
// NewOnline.
func (o Online) Valid() bool {
	return o.Scale >= minScale && o.Scale <= maxScale && !math.IsNaN(o.Offset) && !math.IsInf(o.Offset, 0)
}

// Apply returns the recalibrated confidence of raw.
func (o Online) Apply(raw float64) float64 {
	if !o.Valid() {
		return clamp01(raw)
	}
	if o.Scale == 1 && o.Offset == 0 {
		return clamp01(raw)
	}
	return sigmoid(o.Scale*logit(raw) + o.Offset)
}

// Threshold returns the raw confidence at which the recalibrated one
// reaches target: an answer below it is escalated under escalate-below
// target.
func (o Online) Threshold(target float64) float64 {
	if !o.Valid() || (o.Scale == 1 && o.Offset == 0) {
		return clamp01(target)
	}
	return sigmoid((logit(target) - o.Offset) / o.Scale)
}

// AgreedShare is the share of the window's outcomes that were settled
// (central's answer would not have changed the node's; 0 with none).
func (o Online) AgreedShare() float64 {
	if len(o.Outcomes) == 0 {
		return 0
	}
	n := 0
	for _, out := range o.Outcomes {
		if out.Agreed {
			n++
		}
	}
	return float64(n) / float64(len(o.Outcomes))
}

// Observe adds one outcome and moves the map one bounded step towards the
// fit of the window. target is the escalation threshold in force (on the
// recalibrated scale); Offset is kept where that threshold corresponds to
// a raw confidence within [Floor, Ceiling].
func (o Online) Observe(out Outcome, target float64, opt OnlineOptions) Online {
	opt = opt.withDefaults()
	if !o.Valid() {
		o = opt.Start
	}
	if math.IsNaN(out.Raw) {
		return o
	}
	out.Raw = clamp01(out.Raw)
	// A fresh slice: the caller's copy of the window stays as it was.
	keep := o.Outcomes[max(0, len(o.Outcomes)+1-opt.Window):]
	o.Outcomes = append(append(make([]Outcome, 0, len(keep)+1), keep...), out)
	o.Labels++

	fs, fo := fitPlatt(o.Outcomes, opt.Prior, opt.Start)
	t := logit(clampTo(target, rawEps, 1-rawEps))
	within := func(scale, offset float64) float64 {
		return clampTo(offset, t-scale*logit(opt.Ceiling), t-scale*logit(opt.Floor))
	}
	s := clampTo(o.Scale+clampTo(fs-o.Scale, -opt.Step, opt.Step), minScale, maxScale)
	b := o.Offset + clampTo(fo-o.Offset, -opt.Step, opt.Step)
	if nb := within(s, b); math.Abs(nb-o.Offset) > opt.Step {
		// The scale's step moved the Floor or Ceiling bound by more
		// than a step: keep the scale, under which the map already kept
		// the bound, and the offset's move stays within the step.
		s = o.Scale
	}
	o.Scale, o.Offset = s, within(s, b)
	return o
}

// fitPlatt fits σ(s·logit(raw)+b) to the outcomes by Newton's method, with
// a Gaussian prior of weight prior (in outcomes) centred on the map at
// (the identity unless OnlineOptions.Start says otherwise).
func fitPlatt(outs []Outcome, prior float64, at Online) (s, b float64) {
	s, b = at.Scale, at.Offset
	for range 50 {
		// Gradient and Hessian of the negative log-likelihood plus prior.
		gs, gb := prior*(s-at.Scale), prior*(b-at.Offset)
		hss, hsb, hbb := prior, 0.0, prior
		for _, out := range outs {
			x := logit(out.Raw)
			p := sigmoid(s*x + b)
			y := 0.0
			if out.Agreed {
				y = 1
			}
			w := max(p*(1-p), 1e-9)
			gs += (p - y) * x
			gb += p - y
			hss += w * x * x
			hsb += w * x
			hbb += w
		}
		det := hss*hbb - hsb*hsb
		if !(det > 0) {
			break
		}
		// Damped: where the labels separate, the likelihood is flat and a
		// full Newton step would overshoot the bounds at once.
		ds := clampTo((hbb*gs-hsb*gb)/det, -1, 1)
		db := clampTo((hss*gb-hsb*gs)/det, -2, 2)
		if (s <= minScale && ds > 0) || (s >= maxScale && ds < 0) {
			// The scale is at its bound: fit the offset alone.
			ds, db = 0, clampTo(gb/hbb, -2, 2)
		}
		s, b = clampTo(s-ds, minScale, maxScale), clampTo(b-db, -20, 20)
		if math.Abs(ds)+math.Abs(db) < 1e-9 {
			break
		}
	}
	return s, b
}

func logit(p float64) float64 {
	p = clampTo(p, rawEps, 1-rawEps)
	return math.Log(p / (1 - p))
}

func clampTo(v, lo, hi float64) float64 {
	switch {
	case math.IsNaN(v):
		return lo
	case v < lo:
		return lo
	case v > hi:
		return hi
	}
	return v
}

// Agreed labels a local answer with a better-informed one (central's, from
// the whole index): the local one would have done when it ranks the
// document the better answer ranks first, or at least half of the better
// answer's first agreeTop documents. The second test counts where
// relevance is spread over many documents and the two first choices differ
// while both rankings serve the reader alike; an edge asked about another
// site's documents passes neither.
func Agreed(local, better []string) bool {
	better = better[:min(len(better), agreeTop)]
	if len(better) == 0 {
		return false
	}
	if slices.Contains(local, better[0]) {
		return true
	}
	n := 0
	for _, d := range better {
		if slices.Contains(local, d) {
			n++
		}
	}
	return 2*n >= len(better)
}

// agreeTop is how many of the better answer's documents Agreed compares.
const agreeTop = 5

// Compared is what Settled looks at of one answer: the documents it cites,
// best first, the model's support estimate (Score, before any
// recalibration), whether it abstained, and the retrieval score of its
// first passage (TopScore; 0 when unknown, or when the two answers' scores
// are not on one scale, as across retrieval kinds).
type Compared struct {
	Docs      []string
	Support   float64
	Abstained bool
	TopScore  float64
}

// Settled labels an escalation: true when the better-informed answer
// (central's, from the whole index) would not have changed what the node
// serves, so that asking was wasted. That is so when it ranks alike
// (Agreed), or when it found nothing the node lacks and says so: it
// abstained, or the local answer was given and the better one is not
// better supported (the rule the node itself applies when it keeps its own
// answer over central's). Supports compare on the model's scale, which
// every node computes alike.
//
// Agreed alone asks too much on collections whose documents share one
// topic: there central often ranks first a document of another site that
// is no better than the edge's, and an edge that hears "disagreed" for
// those escalates home questions it answers as well as central does. But
// an abstention or a weaker support is no evidence that the edge ranked as
// well when central's first passage matches the question clearly better
// than anything the edge found (TopScore above foundBetter times the
// edge's): central then holds a passage the edge lacks, the question was
// most likely another site's, and the reader was better served by
// central's sources. Counting those as settled taught edges to keep
// foreign questions (issue 11: 48 % of foreign cranfield questions were
// labelled settled where the edge ranked as well on 12 %).
func Settled(local, better Compared) bool {
	if len(better.Docs) > 0 && Agreed(local.Docs, better.Docs) {
		return true
	}
	if local.TopScore > 0 && better.TopScore > foundBetter*local.TopScore {
		return false
	}
	return better.Abstained || (!local.Abstained && better.Support < local.Support)
}

// foundBetter is how much higher than the edge's the retrieval score of
// central's first passage must be for Settled to take it as a passage the
// edge lacks. Chosen on cranfield and squad-v1.1-dev (BENCHMARKS.md,
// "the settled label"): the edge's home questions that central ranks
// differently sit at a median ratio of 1.09-1.19, the foreign ones at
// 1.47-1.49.
const foundBetter = 1.25
