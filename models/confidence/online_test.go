package confidence_test

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/edgerag/edgerag/models/confidence"
)

// feed observes n outcomes at raw, agreed with probability share (every
// k-th outcome, deterministically).
func feed(o confidence.Online, n int, raw, share, target float64, opt confidence.OnlineOptions) confidence.Online {
	agreedEvery := 0
	if share > 0 {
		agreedEvery = int(math.Round(1 / share))
	}
	for i := range n {
		agreed := agreedEvery > 0 && i%agreedEvery == 0
		o = o.Observe(confidence.Outcome{Raw: raw, Agreed: agreed}, target, opt)
	}
	return o
}

func TestOnlineMovesTheThresholdTowardWhatCentralSays(t *testing.T) {
	opt := confidence.DefaultOnlineOptions()
	const target = 0.4
	for _, tc := range []struct {
		name      string
		n         int
		raw       float64
		agreed    float64
		threshold func(float64) bool // of the raw threshold after
		conf      func(float64) bool // recalibrated confidence of raw after
	}{
		{"no labels: the model as fitted", 0, 0.2, 0, func(th float64) bool { return math.Abs(th-target) < 1e-9 },
			func(c float64) bool { return math.Abs(c-0.2) < 1e-9 }},
		// A collection whose confidences run low while central agrees
		// with the edge most of the time: the edge should stop escalating
		// them.
		{"low confidences central agrees with: threshold falls", 200, 0.1, 0.8,
			func(th float64) bool { return th < 0.1 }, func(c float64) bool { return c > target }},
		// Confident answers central keeps overruling: escalate more.
		{"high confidences central overrules: threshold rises", 200, 0.5, 0.1,
			func(th float64) bool { return th > 0.5 }, func(c float64) bool { return c < target }},
		{"central always agrees: threshold falls, not below the floor", 500, 0.05, 1,
			func(th float64) bool { return th < 0.05 && th >= opt.Floor-1e-9 }, func(c float64) bool { return c >= target }},
		{"central never agrees: threshold stops at the ceiling", 500, 0.6, 0,
			func(th float64) bool { return math.Abs(th-opt.Ceiling) < 1e-6 }, func(c float64) bool { return c < target }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := feed(confidence.NewOnline(), tc.n, tc.raw, tc.agreed, target, opt)
			if th := o.Threshold(target); !tc.threshold(th) {
				t.Errorf("after %d outcomes at raw %.2f (%.0f%% agreed): raw threshold %.4f", tc.n, tc.raw, 100*tc.agreed, th)
			}
			if c := o.Apply(tc.raw); !tc.conf(c) {
				t.Errorf("recalibrated confidence of %.2f is %.4f", tc.raw, c)
			}
			// The decision and the confidence say the same thing.
			th := o.Threshold(target)
			if th > 0.011 && th < 0.989 {
				if below, above := o.Apply(th*0.98), o.Apply(math.Min(th*1.02, 0.999)); !(below < target && above >= target-1e-9) {
					t.Errorf("threshold %.4f: Apply just below %.4f, just above %.4f, target %.2f", th, below, above, target)
				}
			}
		})
	}
}

func TestOnlineThresholdStopsAtTheFloor(t *testing.T) {
	// Central agrees even where retrieval found next to nothing: with a
	// weak prior the fit would stop escalating anything, the floor keeps
	// the edge escalating below it.
	opt := confidence.OnlineOptions{Prior: 1e-6, Floor: 0.05}
	o := feed(confidence.NewOnline(), 500, 0.001, 1, 0.4, opt)
	if th := o.Threshold(0.4); math.Abs(th-0.05) > 1e-6 {
		t.Errorf("raw threshold %.4f; the floor is 0.05", th)
	}
	if c := o.Apply(0.01); c >= 0.4 {
		t.Errorf("confidence 0.01 recalibrated to %.3f, above the threshold the floor keeps", c)
	}
}

func TestOnlineStepsAreBounded(t *testing.T) {
	opt := confidence.OnlineOptions{Step: 0.1, Window: 16}
	o := opt.Initial()
	for i := range 40 {
		next := o.Observe(confidence.Outcome{Raw: 0.05, Agreed: true}, 0.4, opt)
		if ds, db := math.Abs(next.Scale-o.Scale), math.Abs(next.Offset-o.Offset); ds > 0.1+1e-12 || db > 0.1+1e-12 {
			t.Fatalf("outcome %d moved scale by %.4f and offset by %.4f; the step is 0.1", i, ds, db)
		}
		if len(next.Outcomes) > 16 {
			t.Fatalf("window holds %d outcomes; it is 16", len(next.Outcomes))
		}
		if next.Labels != int64(i+1) {
			t.Fatalf("labels = %d after %d outcomes", next.Labels, i+1)
		}
		o = next
	}
	// Few labels move the map little: Prior pseudo-labels pull it to the
	// start, the identity or the fleet's prior alike.
	lg := func(p float64) float64 { return math.Log(p / (1 - p)) }
	for _, start := range []confidence.Online{confidence.NewOnline(), confidence.DefaultOnlineOptions().Start} {
		opt := confidence.OnlineOptions{Step: 10, Start: start}
		before := opt.Initial().Apply(0.05)
		one := opt.Initial().Observe(confidence.Outcome{Raw: 0.05, Agreed: true}, 0.4, opt)
		if after := one.Apply(0.05); lg(after)-lg(before) > 1.25 {
			t.Errorf("start %+v: one agreeing label lifted 0.05 from %.3f to %.3f; one label should not decide the threshold", start, before, after)
		}
	}
}

func TestOnlineIgnoresBadInput(t *testing.T) {
	o := confidence.NewOnline()
	o = o.Observe(confidence.Outcome{Raw: math.NaN(), Agreed: true}, 0.4, confidence.OnlineOptions{})
	if o.Labels != 0 || o.Scale != 1 || o.Offset != 0 {
		t.Errorf("a NaN confidence was learned from: %+v", o)
	}
	for _, raw := range []float64{-3, 0, 1, 7, math.Inf(1)} {
		o = o.Observe(confidence.Outcome{Raw: raw, Agreed: raw > 0.5}, 0.4, confidence.OnlineOptions{})
	}
	if !o.Valid() || math.IsNaN(o.Apply(0.3)) {
		t.Errorf("out-of-range confidences broke the map: %+v", o)
	}
	// A damaged record is not valid; Apply then passes the model through.
	for _, bad := range []confidence.Online{{}, {Scale: math.NaN()}, {Scale: 100}, {Scale: 1, Offset: math.Inf(1)}} {
		if bad.Valid() {
			t.Errorf("%+v reported valid", bad)
		}
		if c := bad.Apply(0.3); c != 0.3 {
			t.Errorf("%+v: Apply(0.3) = %v; an invalid map passes the model through", bad, c)
		}
	}
}

func TestOnlineSurvivesJSON(t *testing.T) {
	o := feed(confidence.NewOnline(), 50, 0.1, 0.7, 0.4, confidence.OnlineOptions{})
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var back confidence.Online
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Apply(0.1) != o.Apply(0.1) || back.Labels != o.Labels || len(back.Outcomes) != len(o.Outcomes) {
		t.Errorf("round trip changed the map: %+v → %+v", o, back)
	}
}

func TestAgreed(t *testing.T) {
	for _, tc := range []struct {
		name          string
		local, better []string
		want          bool
	}{
		{"central's first document is cited here", []string{"x", "a"}, []string{"a", "b", "c"}, true},
		{"two of central's first five are here", []string{"b", "c"}, []string{"a", "b", "c", "d", "e"}, false},
		{"three of central's first five are here", []string{"b", "c", "d"}, []string{"a", "b", "c", "d", "f", "e"}, true},
		{"only beyond central's first five", []string{"f", "g", "h"}, []string{"a", "b", "c", "d", "e", "f", "g", "h"}, false},
		{"two of four", []string{"c", "d"}, []string{"a", "b", "c", "d"}, true},
		{"nothing in common", []string{"x", "y"}, []string{"a", "b"}, false},
		{"central ranked nothing", []string{"x"}, nil, false},
		{"nothing here", nil, []string{"a"}, false},
	} {
		if got := confidence.Agreed(tc.local, tc.better); got != tc.want {
			t.Errorf("%s: Agreed(%v, %v) = %v, want %v", tc.name, tc.local, tc.better, got, tc.want)
		}
	}
}

func TestSettled(t *testing.T) {
	ans := func(support float64, docs ...string) confidence.Compared {
		return confidence.Compared{Docs: docs, Support: support}
	}
	abst := func(support float64, docs ...string) confidence.Compared {
		return confidence.Compared{Docs: docs, Support: support, Abstained: true}
	}
	scored := func(c confidence.Compared, top float64) confidence.Compared { c.TopScore = top; return c }
	for _, tc := range []struct {
		name          string
		local, better confidence.Compared
		want          bool
	}{
		{"central ranked alike, however sure", ans(0.3, "a", "b"), ans(0.9, "a", "c"), true},
		{"central ranked alike, the edge abstained", abst(0.1, "a"), ans(0.9, "a"), true},
		// One-topic collections: another site's document first, no better
		// supported than the edge's own answer. Asking changed nothing.
		{"another document, less supported", ans(0.45, "a"), ans(0.40, "x"), true},
		{"another document, better supported", ans(0.45, "a"), ans(0.60, "x"), false},
		{"equally supported: central's answer is served", ans(0.5, "a"), ans(0.5, "x"), false},
		{"central abstained too: no source holds it", abst(0.1, "a"), abst(0.2, "x"), true},
		{"central abstained where the edge answered", ans(0.4, "a"), abst(0.1, "x"), true},
		// The question is about another site's documents: central answers
		// it, the edge could not.
		{"the edge abstained, central answered elsewhere", abst(0.1, "a"), ans(0.7, "x"), false},
		{"the edge abstained, central answered less surely", abst(0.25, "a"), ans(0.2, "x"), false},
		{"central ranked nothing and answered", ans(0.5, "a"), ans(0.6), false},
		// Central's first passage matches clearly better than anything the
		// edge found: a passage the edge lacks, whatever central's support.
		{"central abstained on a clearly better passage", scored(abst(0.1, "a"), 10), scored(abst(0.2, "x"), 13), false},
		{"central abstained on a clearly better passage, the edge answered", scored(ans(0.4, "a"), 10), scored(abst(0.1, "x"), 13), false},
		{"less supported but a clearly better passage", scored(ans(0.45, "a"), 10), scored(ans(0.40, "x"), 20), false},
		{"central abstained on a passage no better matched", scored(abst(0.1, "a"), 10), scored(abst(0.2, "x"), 12.5), true},
		{"less supported, passages alike", scored(ans(0.45, "a"), 10), scored(ans(0.40, "x"), 11), true},
		{"ranked alike: the scores do not matter", scored(ans(0.3, "a"), 10), scored(ans(0.9, "a"), 30), true},
		// Scores on different scales (one side unknown): the support rule.
		{"scores not comparable", scored(ans(0.4, "a"), 0), scored(abst(0.1, "x"), 13), true},
	} {
		if got := confidence.Settled(tc.local, tc.better); got != tc.want {
			t.Errorf("%s: Settled(%+v, %+v) = %v, want %v", tc.name, tc.local, tc.better, got, tc.want)
		}
	}
}

// BenchmarkOnlineObserve is one label on a full window: the refit an edge
// does after each escalation central answered.
func BenchmarkOnlineObserve(b *testing.B) {
	o := feed(confidence.NewOnline(), 256, 0.2, 0.5, 0.5, confidence.OnlineOptions{})
	i := 0
	for b.Loop() {
		i++
		o = o.Observe(confidence.Outcome{Raw: float64(i%97) / 100, Agreed: i%3 == 0}, 0.5, confidence.OnlineOptions{})
	}
}

// TestOnlineStartsFromThePrior: an edge that has heard nothing yet routes
// on the fleet's prior (escalating below a raw 0.24 at escalate-below 0.5,
// where the model as fitted would escalate below 0.5), and a start can be
// set back to the model as fitted.
func TestOnlineStartsFromThePrior(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opt      confidence.OnlineOptions
		lo, hi   float64 // raw threshold at escalate-below 0.5
		identity bool
	}{
		{"default: the prior", confidence.OnlineOptions{}, 0.2, 0.28, false},
		{"the model as fitted", confidence.OnlineOptions{Start: confidence.NewOnline()}, 0.5, 0.5, true},
		{"an invalid start: the default", confidence.OnlineOptions{Start: confidence.Online{Scale: 99}}, 0.2, 0.28, false},
	} {
		on := tc.opt.Initial()
		if th := on.Threshold(0.5); th < tc.lo-1e-9 || th > tc.hi+1e-9 {
			t.Errorf("%s: raw threshold %.3f, want %.2f..%.2f", tc.name, th, tc.lo, tc.hi)
		}
		if on.Labels != 0 || len(on.Outcomes) != 0 {
			t.Errorf("%s: the start carries labels: %+v", tc.name, on)
		}
		if got := on.Apply(0.3) == 0.3; got != tc.identity {
			t.Errorf("%s: Apply(0.3) = %.3f", tc.name, on.Apply(0.3))
		}
	}
}
