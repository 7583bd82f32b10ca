package extractive

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/edgerag/edgerag/models"
	"github.com/edgerag/edgerag/node/analysis"
	"github.com/edgerag/edgerag/node/chunk"
)

func passages(texts ...string) []models.Passage {
	ps := make([]models.Passage, len(texts))
	for i, t := range texts {
		ps[i] = models.Passage{N: i + 1, Text: t, Score: float64(len(texts) - i)}
	}
	return ps
}

func TestAnswer(t *testing.T) {
	an := analysis.New()
	tests := []struct {
		name      string
		opts      Options
		question  string
		passages  []models.Passage
		wantText  string
		wantCited []int
		abstained bool
		coverage  float64
		sentences float64
	}{
		{
			name:      "no passages",
			question:  "What is the boiling point of water?",
			wantText:  AbstainText,
			abstained: true,
		},
		{
			name:      "only stopwords and question words",
			question:  "What is it that they are? How do you tell?",
			passages:  passages("Water boils at 100 degrees."),
			wantText:  AbstainText,
			abstained: true,
		},
		{
			name:      "empty question",
			passages:  passages("Water boils at 100 degrees."),
			wantText:  AbstainText,
			abstained: true,
		},
		{
			name:      "nothing matches",
			question:  "Who painted the ceiling?",
			passages:  passages("Water boils at 100 degrees. Ice melts at zero."),
			wantText:  AbstainText,
			abstained: true,
		},
		{
			name:      "coverage below minimum",
			question:  "reactor turbine condenser pump valve boiler water",
			passages:  passages("Water boils at 100 degrees."),
			wantText:  AbstainText,
			abstained: true,
			coverage:  1.0 / 7,
		},
		{
			name:      "negative minimum never abstains on coverage",
			opts:      Options{MinCoverage: -1},
			question:  "reactor turbine condenser pump valve boiler water",
			passages:  passages("Water boils at 100 degrees."),
			wantText:  "Water boils at 100 degrees. [1]",
			wantCited: []int{1},
			coverage:  1.0 / 7,
			sentences: 1.0 / 3,
		},
		{
			name:      "one sentence covers everything",
			question:  "At what temperature does water boil?",
			passages:  passages("Ice melts at zero. Water boils at a temperature of 100 degrees. Steam is hot."),
			wantText:  "Water boils at a temperature of 100 degrees. [1]",
			wantCited: []int{1},
			coverage:  1,
			sentences: 1.0 / 3,
		},
		{
			name:     "greedy combines complementary sentences in document order",
			question: "pressure cooker valve gasket",
			passages: passages(
				"The gasket of the pressure cooker seals the lid. Cleaning takes minutes.",
				"A pressure cooker has a safety valve. The valve releases steam.",
			),
			wantText:  "The gasket of the pressure cooker seals the lid. [1] A pressure cooker has a safety valve. [2]",
			wantCited: []int{1, 2},
			coverage:  1,
			sentences: 2.0 / 3,
		},
		{
			name:     "no padding from a passage that shares one common word",
			question: "what oil does the press use?",
			passages: passages(
				"Change the hydraulic oil of the press every 2,000 hours with ISO VG 46 oil. The tank holds 180 litres.",
				"Gossip between nodes of one site uses TCP and UDP on port 7946 inside VLAN 40 only.",
			),
			wantText:  "Change the hydraulic oil of the press every 2,000 hours with ISO VG 46 oil. [1]",
			wantCited: []int{1},
			coverage:  2.0 / 3,
			sentences: 1.0 / 3,
		},
		{
			name:     "the steps of a procedure follow the sentence that starts it",
			question: "How do I reset the pump after a fault?",
			passages: passages("When the P-100 trips on overload, the red FAULT lamp on panel B lights. " +
				"To reset the pump, first find and remove the cause of the overload. " +
				"Then turn the selector switch to OFF, wait ten seconds, press the blue RESET button on panel B and turn the selector back to AUTO. " +
				"Call the engineer on duty if it trips twice."),
			wantText: "When the P-100 trips on overload, the red FAULT lamp on panel B lights. [1] " +
				"To reset the pump, first find and remove the cause of the overload. [1] " +
				"Then turn the selector switch to OFF, wait ten seconds, press the blue RESET button on panel B and turn the selector back to AUTO. [1]",
			wantCited: []int{1},
			coverage:  0.75, // "after" is in none of them
			sentences: 1,
		},
		{
			name:      "a sentence ending in a colon brings the list it announces",
			question:  "How is the valve tested?",
			passages:  passages("To test the valve:\n\nClose V-31.\n\nNext, open the drain. Other text follows."),
			wantText:  "To test the valve: [1] Close V-31. [1] Next, open the drain. [1]",
			wantCited: []int{1},
			coverage:  1,
			sentences: 1,
		},
		{
			name:     "tie goes to the better-ranked passage",
			question: "valve gasket",
			passages: passages(
				"The valve is red.",
				"The gasket is blue.",
			),
			wantText:  "The valve is red. [1] The gasket is blue. [2]",
			wantCited: []int{1, 2},
			coverage:  1,
			sentences: 2.0 / 3,
		},
		{
			name:      "tie within a passage goes to the earlier sentence",
			question:  "valve",
			passages:  passages("A valve opens. Another valve closes."),
			wantText:  "A valve opens. [1]",
			wantCited: []int{1},
			coverage:  1,
			sentences: 1.0 / 3,
		},
		{
			name:     "a repeated term counts once",
			question: "valve gasket",
			passages: passages(
				"Valve valve valve valve valve.",
				"The valve and the gasket.",
			),
			wantText:  "The valve and the gasket. [2]",
			wantCited: []int{2},
			coverage:  1,
			sentences: 1.0 / 3,
		},
		{
			name:     "stops when nothing new is covered",
			question: "valve gasket",
			passages: passages(
				"The valve and the gasket.",
				"The valve again. The gasket again.",
			),
			wantText:  "The valve and the gasket. [1]",
			wantCited: []int{1},
			coverage:  1,
			sentences: 1.0 / 3,
		},
		{
			name:     "MaxSentences caps the answer",
			opts:     Options{MaxSentences: 2},
			question: "alpha bravo charlie delta",
			passages: passages(
				"Alpha is first. Bravo is second. Charlie is third. Delta is fourth.",
			),
			wantText:  "Alpha is first. [1] Bravo is second. [1]",
			wantCited: []int{1},
			coverage:  0.5,
			sentences: 1,
		},
		{
			name:     "cited numbers sorted and unique",
			question: "alpha bravo charlie",
			passages: []models.Passage{
				{N: 12, Text: "Alpha and charlie."},
				{N: 3, Text: "Bravo and alpha."},
			},
			wantText:  "Alpha and charlie. [12] Bravo and alpha. [3]",
			wantCited: []int{3, 12},
			coverage:  1,
			sentences: 2.0 / 3,
		},
		{
			name:      "missing N is cited by position",
			question:  "gasket",
			passages:  []models.Passage{{Text: "No match here."}, {Text: "The gasket."}},
			wantText:  "The gasket. [2]",
			wantCited: []int{2},
			coverage:  1,
			sentences: 1.0 / 3,
		},
		{
			name:      "stemming matches inflections",
			question:  "How are valves cleaned?",
			passages:  passages("Clean the valve with vinegar."),
			wantText:  "Clean the valve with vinegar. [1]",
			wantCited: []int{1},
			coverage:  1,
			sentences: 1.0 / 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := New(an, tt.opts).Answer(an.Terms(tt.question), tt.passages)
			if got.Text != tt.wantText {
				t.Errorf("text %q, want %q", got.Text, tt.wantText)
			}
			if !slices.Equal(got.Cited, tt.wantCited) {
				t.Errorf("cited %v, want %v", got.Cited, tt.wantCited)
			}
			if got.Abstained != tt.abstained {
				t.Errorf("abstained %v, want %v", got.Abstained, tt.abstained)
			}
			if got.Mode != models.ModeExtractive {
				t.Errorf("mode %q, want %q", got.Mode, models.ModeExtractive)
			}
			if c := got.Signals[SignalCoverage]; !near(c, tt.coverage) {
				t.Errorf("coverage %v, want %v", c, tt.coverage)
			}
			if s := got.Signals[SignalSentences]; !near(s, tt.sentences) {
				t.Errorf("sentences %v, want %v", s, tt.sentences)
			}
		})
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func TestNewDefaults(t *testing.T) {
	tests := []struct {
		in   Options
		want Options
	}{
		{Options{}, Options{MaxSentences: DefaultMaxSentences, MinCoverage: DefaultMinCoverage}},
		{Options{MaxSentences: -2}, Options{MaxSentences: DefaultMaxSentences, MinCoverage: DefaultMinCoverage}},
		{Options{MaxSentences: 5, MinCoverage: 0.5}, Options{MaxSentences: 5, MinCoverage: 0.5}},
		{Options{MinCoverage: -1}, Options{MaxSentences: DefaultMaxSentences, MinCoverage: -1}},
	}
	for _, tt := range tests {
		if got := New(analysis.New(), tt.in).opts; got != tt.want {
			t.Errorf("New(%+v).opts = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// TestManyQueryTerms checks that questions with more than 64 distinct terms
// neither panic nor report coverage above 1.
func TestManyQueryTerms(t *testing.T) {
	words := make([]string, 100)
	for i := range words {
		words[i] = fmt.Sprintf("zq%dx", i)
	}
	q := strings.Join(words, " ")
	an := analysis.New()
	got := New(an, Options{}).Answer(an.Terms(q), passages(q+"."))
	if got.Abstained || got.Signals[SignalCoverage] != 1 {
		t.Fatalf("got %+v, want a full-coverage answer", got)
	}
}

func TestConcurrentUse(t *testing.T) {
	x := New(analysis.New(), Options{})
	ps := benchPassages()
	q := x.an.Terms(benchQuestion)
	want := x.Answer(q, ps)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				got := x.Answer(q, ps)
				if got.Text != want.Text {
					t.Errorf("concurrent answer %q, want %q", got.Text, want.Text)
					return
				}
			}
		})
	}
	wg.Wait()
}

const benchQuestion = "How often should the pressure relief valve of the boiler be inspected?"

// benchPassages returns five passages of about 200 words of plain English,
// built from a fixed seed so runs are comparable.
func benchPassages() []models.Passage {
	vocab := strings.Fields(`the a of to and in is that for it as was with be by on not he this are or
		his from at which but have an they you were her she there been one all we their has would when
		boiler valve pressure relief inspect inspection monthly annual safety technician water steam
		temperature gauge pipe leak seal gasket replace maintenance schedule operator manual install
		system heating tank burner flame sensor control thermostat circuit fuse switch panel drain flush`)
	r := rand.New(rand.NewPCG(1, 2))
	ps := make([]models.Passage, 5)
	for i := range ps {
		var b strings.Builder
		for words := 0; words < 200; {
			n := 8 + r.IntN(16)
			for j := range n {
				w := vocab[r.IntN(len(vocab))]
				if j == 0 {
					w = strings.ToUpper(w[:1]) + w[1:]
				} else {
					b.WriteByte(' ')
				}
				b.WriteString(w)
			}
			b.WriteString(". ")
			words += n
		}
		ps[i] = models.Passage{N: i + 1, Text: strings.TrimSpace(b.String()), Score: float64(10 - i)}
	}
	return ps
}

// BenchmarkAnswer is the answerer's work on one question, which the node
// has analysed already (retrieval did).
func BenchmarkAnswer(b *testing.B) {
	x := New(analysis.New(), Options{})
	ps := benchPassages()
	q := x.an.Terms(benchQuestion)
	b.ReportAllocs()
	for b.Loop() {
		x.Answer(q, ps)
	}
}

func BenchmarkAnswerAbstain(b *testing.B) {
	x := New(analysis.New(), Options{})
	ps := benchPassages()
	q := x.an.Terms("Who composed the symphony?")
	b.ReportAllocs()
	for b.Loop() {
		x.Answer(q, ps)
	}
}

// BenchmarkFloor measures only the sentence splitting and analysis that
// Answer cannot avoid, so a slowdown in Answer can be told apart from one in
// node/chunk or node/analysis.
func BenchmarkFloor(b *testing.B) {
	an := analysis.New()
	ps := benchPassages()
	var terms []string
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range ps {
			for _, sp := range chunk.Sentences(p.Text) {
				terms = an.AppendTerms(terms[:0], p.Text[sp.Start:sp.End])
			}
		}
	}
}

// TestAnswerTakesAnalysedQuestion: the answerer matches the terms it is
// given and does not analyse a question of its own, so the node's query
// path analyses a question once.
func TestAnswerTakesAnalysedQuestion(t *testing.T) {
	an := analysis.New()
	ps := passages("To reset the pump, hold the red button. The valve is greased monthly.")
	got := New(an, Options{}).Answer([]string{"reset", "pump"}, ps)
	if got.Abstained || !strings.Contains(got.Text, "reset the pump") || got.Signals[SignalCoverage] != 1 {
		t.Fatalf("analysed terms [reset pump]: %+v", got)
	}
	// Unanalysed text is not analysed again: "Resetting" is no term of the
	// index, so it matches nothing.
	if got := New(an, Options{}).Answer([]string{"Resetting"}, ps); !got.Abstained {
		t.Fatalf("a raw word was matched as if analysed: %+v", got)
	}
}
