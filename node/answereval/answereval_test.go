package answereval

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunHoldOut builds a small QA collection whose articles share no
// vocabulary, runs the construction on a real node and checks what a user
// would: questions about indexed articles are answered with the gold
// answer, questions about left-out ones abstained on, below every answer.
func TestRunHoldOut(t *testing.T) {
	topics := []struct{ title, body, q, a string }{
		{"Pump P-100", "To reset the pump press the blue RESET button on panel B.", "Which button resets the pump?", "blue RESET button"},
		{"Hydraulic press", "The hydraulic press uses ISO VG 46 oil, changed every 2,000 operating hours.", "Which oil does the hydraulic press use?", "ISO VG 46"},
		{"Conveyor belt", "Pull-cord switches stop the conveyor belt within half a second.", "What stops the conveyor belt?", "Pull-cord switches"},
		{"Laser welder", "Calibrate the laser welder weekly with the brass alignment target.", "How often is the laser welder calibrated?", "weekly"},
		{"Boiler room", "The boiler room door stays locked; the key hangs in the shift office.", "Where is the boiler room key?", "shift office"},
		{"Forklift", "Forklift batteries charge overnight in bay seven.", "Where do forklift batteries charge?", "bay seven"},
	}
	dir := t.TempDir()
	var corpus, queries, qrels strings.Builder
	for i, tp := range topics {
		id := fmt.Sprintf("d%d", i)
		b, _ := json.Marshal(map[string]string{"id": id, "title": tp.title, "text": tp.body})
		corpus.Write(append(b, '\n'))
		b, _ = json.Marshal(map[string]any{"id": fmt.Sprintf("q%d", i), "text": tp.q, "answers": []string{tp.a}, "context_id": id})
		queries.Write(append(b, '\n'))
		fmt.Fprintf(&qrels, "q%d\t%s\t1\n", i, id)
	}
	for name, text := range map[string]string{"corpus.jsonl": corpus.String(), "queries.jsonl": queries.String(), "qrels.tsv": qrels.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var rows bytes.Buffer
	rep, err := Run(context.Background(), dir, Options{Seed: 3, Rows: &rows})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.QA || rep.Indexed != 3 || rep.Answ != 3 || rep.Left != 3 {
		t.Fatalf("construction: %+v; want 3 of 6 articles indexed, 3 questions each side", rep)
	}
	if rep.AbstainLeftOut != 1 || rep.AnswerRate != 1 || rep.Supported != 1 || rep.AUROC != 1 {
		t.Errorf("abstain %.2f answer %.2f supported %.2f AUROC %.2f; want all 1 on disjoint topics",
			rep.AbstainLeftOut, rep.AnswerRate, rep.Supported, rep.AUROC)
	}
	if rep.MaxAbstainConf >= rep.MinAnswerConf {
		t.Errorf("an abstention at %.3f is not below the answers (lowest %.3f)", rep.MaxAbstainConf, rep.MinAnswerConf)
	}
	if n := strings.Count(rows.String(), "\n"); n != 6 {
		t.Errorf("%d rows written, want one per question (6)", n)
	}
}

func TestStripMarks(t *testing.T) {
	for in, want := range map[string]string{
		"Press RESET. [1] Then wait. [12]": "Press RESET.  Then wait. ",
		"array[i] and [x]":                 "array[i] and [x]",
		"[":                                "[",
		"ends [3":                          "ends [3",
	} {
		if got := StripMarks(in); got != want {
			t.Errorf("StripMarks(%q) = %q, want %q", in, got, want)
		}
	}
}
