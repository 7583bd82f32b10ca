package trust

import (
	"strings"
	"testing"

	"github.com/edgerag/edgerag/node/analysis"
)

func TestRedact(t *testing.T) {
	r, err := NewRedactor(nil, map[string]string{"employee": `\bEMP-[0-9]{5}\b`})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, in, want string
		counts         map[string]int
	}{
		{"email", "Mail jane.doe@example.com about the pump.", "Mail [redacted:email] about the pump.", map[string]int{"email": 1}},
		{"iban", "Pay to DE89 3704 0044 0532 0130 00 today.", "Pay to [redacted:iban] today.", map[string]int{"iban": 1}},
		{"bad iban kept", "Ref GB00 WEST 1234 5698 7654 32.", "Ref GB00 WEST 1234 5698 7654 32.", nil},
		{"card luhn", "Card 4111 1111 1111 1111 was charged.", "Card [redacted:card] was charged.", map[string]int{"card": 1}},
		{"card not luhn kept", "Part 4111 1111 1111 1112 ordered.", "Part 4111 1111 1111 1112 ordered.", nil},
		{"phone intl", "Call +49 30 1234567 now.", "Call [redacted:phone] now.", map[string]int{"phone": 1}},
		{"phone us", "Call (555) 123-4567.", "Call [redacted:phone].", map[string]int{"phone": 1}},
		{"field", "password: hunter2, user bob", "password: [redacted:field], user bob", map[string]int{"field": 1}},
		{"api key field", "api key = sk-abc123", "api key = [redacted:field]", map[string]int{"field": 1}},
		{"extra", "Badge EMP-12345 at gate.", "Badge [redacted:employee] at gate.", map[string]int{"employee": 1}},
		{"measurements kept", "Torque 50 Nm at 1200 rpm, 210 bar, 2024-03-01, P/N 1234-5678.", "Torque 50 Nm at 1200 rpm, 210 bar, 2024-03-01, P/N 1234-5678.", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.Redact(tt.in)
			if got.Text != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.in, got.Text, tt.want)
			}
			if len(got.Counts) != len(tt.counts) {
				t.Errorf("counts %v, want %v", got.Counts, tt.counts)
			}
			for k, v := range tt.counts {
				if got.Counts[k] != v {
					t.Errorf("counts %v, want %v", got.Counts, tt.counts)
				}
			}
		})
	}
	if _, err := NewRedactor(nil, map[string]string{"bad": "("}); err == nil {
		t.Error("a pattern that does not compile was accepted")
	}
}

func TestConflicts(t *testing.T) {
	c := NewChecker(analysis.New())
	tests := []struct {
		name     string
		question string
		texts    []string
		kind     string // "" for none
	}{
		{"interval", "How often is the hydraulic filter replaced?",
			[]string{"Replace the hydraulic filter every 500 hours of operation.", "The hydraulic filter is replaced every 5000 hours."}, ConflictInterval},
		{"thousands", "How often is the seal replaced?",
			[]string{"Replace the seal every 4,000 operating hours.", "The seal is replaced every 4000 hours."}, ""},
		{"calendar units", "How often is the harness inspected?",
			[]string{"Inspect the harness every 12 months.", "The harness is inspected every 5 years."}, ConflictInterval},
		{"calendar units agree", "How often is the harness inspected?",
			[]string{"Inspect the harness every 12 months.", "The harness is inspected every 1 year."}, ""},
		{"torque", "What torque for the wheel nuts?",
			[]string{"Tighten the wheel nuts to 120 Nm.", "Wheel nuts are tightened to 250 Nm."}, ConflictNumber},
		{"range agrees", "What torque for the wheel nuts?",
			[]string{"Tighten the wheel nuts to 110-130 Nm.", "Wheel nuts are tightened to 120 Nm."}, ""},
		{"same value", "What pressure does the tyre need?",
			[]string{"Inflate the tyre to 2.5 bar.", "The tyre pressure is 2.5 bar when cold."}, ""},
		{"different units", "What is the coolant capacity?",
			[]string{"The coolant capacity is 12 l.", "The coolant capacity is 3.2 gal."}, ""},
		{"yes no", "Can the seal be reused after removal?",
			[]string{"The seal can be reused after removal if undamaged.", "The seal cannot be reused after removal if undamaged."}, ConflictYesNo},
		{"two subjects", "How often is the L-8 transmission oil changed?",
			[]string{"Change the engine oil every 250 operating hours.", "Change the L-8 transmission oil every 1,000 operating hours."}, ""},
		{"unrelated sentences", "What torque for the wheel nuts?",
			[]string{"Tighten the wheel nuts to 120 Nm.", "The engine mount bolts take 45 Nm. Wheel nuts are checked daily."}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.Conflicts(tt.question, tt.texts)
			switch {
			case tt.kind == "" && len(got) > 0:
				t.Fatalf("Conflicts = %+v, want none", got)
			case tt.kind != "" && (len(got) != 1 || got[0].Kind != tt.kind || got[0].A != 0 || got[0].B != 1):
				t.Fatalf("Conflicts = %+v, want one %s", got, tt.kind)
			}
		})
	}
	if _, ok := c.Contradicts("How often is the hydraulic filter replaced? The hydraulic filter is replaced every 5000 hours.",
		"Maintenance: the hydraulic filter is replaced every 500 hours."); !ok {
		t.Error("Contradicts missed a restated fact with another figure")
	}
	if _, ok := c.Contradicts("The hydraulic filter is replaced every 500 hours by a technician.",
		"Maintenance: the hydraulic filter is replaced every 500 hours."); ok {
		t.Error("Contradicts flagged agreement")
	}
}

func TestLimitLinks(t *testing.T) {
	allowed := []string{"https://manuals.example.com/pump.html", "", "file:///local"}
	in := "See [the manual](https://manuals.example.com/p2) and ![x](https://evil.example/a.png?q=1) or www.evil.example/x, http://www.manuals.example.com/ok."
	got, n := LimitLinks(in, allowed)
	if n != 2 || strings.Contains(got, "evil") || !strings.Contains(got, "https://manuals.example.com/p2") || !strings.Contains(got, "http://www.manuals.example.com/ok") {
		t.Fatalf("LimitLinks = %q, %d", got, n)
	}
}
