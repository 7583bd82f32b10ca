package probes

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)

func mk(t *testing.T, q, source string, docs ...string) Probe {
	t.Helper()
	p, err := New(q, docs, source, t0)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name     string
		question string
		docs     []string
		err      error
		wantDocs []string
	}{
		{"plain", "How do I reset unit 3?", []string{"d3", "d1"}, nil, []string{"d3", "d1"}},
		{"duplicates and blanks dropped", " reset? ", []string{"d3", "", "d3", "d4"}, nil, []string{"d3", "d4"}},
		{"at most five documents", "q", []string{"a", "b", "c", "d", "e", "f", "g"}, nil, []string{"a", "b", "c", "d", "e"}},
		{"empty question", "   ", []string{"d"}, ErrQuestion, nil},
		{"too long", strings.Repeat("x", MaxQuestion+1), []string{"d"}, ErrQuestion, nil},
		{"bad UTF-8", "a\xffb", []string{"d"}, ErrQuestion, nil},
		{"no document cited", "q", nil, ErrNoAnswer, nil},
	} {
		p, err := New(tc.question, tc.docs, FromOperator, t0)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.err)
			continue
		}
		if err == nil && fmt.Sprint(p.Docs) != fmt.Sprint(tc.wantDocs) {
			t.Errorf("%s: docs %v, want %v", tc.name, p.Docs, tc.wantDocs)
		}
	}
	if ID("How do  I reset?") != ID("how do i reset?") {
		t.Error("the same question in other case and spacing has another id")
	}
}

func TestAddKeepsTheSetBounded(t *testing.T) {
	ids := func(s Set) string {
		var out []string
		for _, p := range s.Probes {
			out = append(out, p.Question)
		}
		return strings.Join(out, ",")
	}
	set := func(ps ...Probe) Set { return Set{Shard: "m", Probes: ps} }
	for _, tc := range []struct {
		name    string
		set     Set
		add     Probe
		max     int
		want    string
		changed bool
	}{
		{"room left", set(mk(t, "a", FromEscalation, "d")), mk(t, "b", FromEscalation, "d"), 3, "a,b", true},
		{"full: oldest escalation goes", set(mk(t, "a", FromOperator, "d"), mk(t, "b", FromEscalation, "d"), mk(t, "c", FromEscalation, "d")),
			mk(t, "e", FromEscalation, "d"), 3, "a,c,e", true},
		{"full of operator probes: an escalation is not added", set(mk(t, "a", FromOperator, "d"), mk(t, "b", FromOperator, "d")),
			mk(t, "e", FromEscalation, "d"), 2, "a,b", false},
		{"full of operator probes: an operator's replaces the oldest", set(mk(t, "a", FromOperator, "d"), mk(t, "b", FromOperator, "d")),
			mk(t, "e", FromOperator, "d"), 2, "b,e", true},
		{"same question again moves to the end with the new answer", set(mk(t, "a", FromEscalation, "d"), mk(t, "b", FromEscalation, "d")),
			mk(t, "A", FromEscalation, "x"), 3, "b,A", true},
		{"an escalation does not overwrite the operator's answer", set(mk(t, "a", FromOperator, "d")),
			mk(t, "a", FromEscalation, "x"), 3, "a", false},
		{"default bound", set(), mk(t, "a", FromEscalation, "d"), 0, "a", true},
	} {
		got, changed := Add(tc.set, tc.add, tc.max)
		if ids(got) != tc.want || changed != tc.changed {
			t.Errorf("%s: got %s (changed %v), want %s (changed %v)", tc.name, ids(got), changed, tc.want, tc.changed)
		}
	}
	// A long run of escalations never grows a set past its bound.
	s := Set{Shard: "m"}
	for i := range 500 {
		s, _ = Add(s, mk(t, fmt.Sprintf("q%d", i), FromEscalation, "d"), 0)
	}
	if len(s.Probes) != MaxPerShard || s.Probes[len(s.Probes)-1].Question != "q499" {
		t.Errorf("after 500 escalations: %d probes, last %q", len(s.Probes), s.Probes[len(s.Probes)-1].Question)
	}
}

func TestRemove(t *testing.T) {
	s := Set{Shard: "m", Probes: []Probe{mk(t, "a", FromOperator, "d"), mk(t, "b", FromOperator, "d")}}
	if got, ok := Remove(s, ID("a")); !ok || len(got.Probes) != 1 || got.Probes[0].Question != "b" {
		t.Errorf("remove by id: %+v %v", got, ok)
	}
	if got, ok := Remove(s, "B"); !ok || len(got.Probes) != 1 || got.Probes[0].Question != "a" {
		t.Errorf("remove by question: %+v %v", got, ok)
	}
	if _, ok := Remove(s, "c"); ok {
		t.Error("removed a probe that is not there")
	}
	if len(s.Probes) != 2 {
		t.Error("Remove changed the set it was given")
	}
}

func TestTally(t *testing.T) {
	p := mk(t, "q", FromEscalation, "d1", "d2", "d3", "d4")
	for _, tc := range []struct {
		name      string
		docs      []string
		abstained bool
		agreed    bool
	}{
		{"cites central's first document", []string{"x", "d1"}, false, true},
		{"cites half of central's documents", []string{"d2", "d3", "x"}, false, true},
		{"cites one of four, not the first", []string{"d4", "x"}, false, false},
		{"cites none", []string{"x", "y"}, false, false},
		{"abstains citing the right one", []string{"d1"}, true, false},
	} {
		var tl Tally
		tl.Add(p, tc.docs, tc.abstained)
		want := Tally{Probes: 1}
		if tc.agreed {
			want.Agreed = 1
		}
		if tc.abstained {
			want.Abstained = 1
		}
		if tl != want {
			t.Errorf("%s: %+v, want %+v", tc.name, tl, want)
		}
	}
}
