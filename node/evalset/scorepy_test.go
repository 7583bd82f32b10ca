package evalset

// These tests run the reference scorer, score.py, on runs and predictions
// built here and require our numbers to equal its printed ones. They skip
// when python3 or the shared datasets are missing.

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// evalRoot is the directory holding the shared datasets and score.py;
// EDGERAG_EVAL_DIR overrides the default for machines that keep them
// elsewhere.
func evalRoot() string {
	return SharedDir()
}

// scorePyShim loads score.py as a module and runs its command line. It
// exists because score.py's normalize_answer uses a PUNCT constant the
// script never defines, so its qa command, and eval on QA datasets, stop
// with a NameError. The shim supplies what the official SQuAD script uses,
// string.punctuation, and changes nothing when PUNCT is defined.
const scorePyShim = `import importlib.util, string, sys
spec = importlib.util.spec_from_file_location("score", sys.argv[1])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
if not hasattr(m, "PUNCT"):
    m.PUNCT = set(string.punctuation)
    print("score.py defines no PUNCT; using string.punctuation", file=sys.stderr)
sys.argv = ["score.py"] + sys.argv[2:]
sys.exit(m.main())
`

// runScorePy runs score.py with args and decodes the JSON line it prints.
func runScorePy(t *testing.T, args ...string) map[string]float64 {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found; cannot compare with the reference scorer")
	}
	script := filepath.Join(evalRoot(), "score.py")
	if _, err := os.Stat(script); err != nil {
		t.Skipf("reference scorer not available: %v", err)
	}
	shim := filepath.Join(t.TempDir(), "shim.py")
	if err := os.WriteFile(shim, []byte(scorePyShim), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(py, append([]string{shim, script}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("score.py %v: %v\n%s", args, err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Logf("score.py: %s", strings.TrimSpace(stderr.String()))
	}
	var out map[string]float64
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("score.py printed %q: %v", stdout.String(), err)
	}
	return out
}

func openShared(t *testing.T, name string) (*Dataset, []Doc) {
	t.Helper()
	dir := filepath.Join(evalRoot(), name)
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("dataset %s not available: %v", name, err)
	}
	ds, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var docs []Doc
	if err := ds.Corpus(func(d Doc) error { docs = append(docs, d); return nil }); err != nil {
		t.Fatal(err)
	}
	return ds, docs
}

// checkClose fails unless ours rounds to score.py's printed value, which
// score.py rounds to the given number of decimals.
func checkClose(t *testing.T, name string, ours, theirs float64, decimals int) {
	t.Helper()
	if tol := 0.5*math.Pow(10, -float64(decimals)) + 1e-9; math.Abs(ours-theirs) > tol {
		t.Errorf("%s: ours %.6f, score.py %v", name, ours, theirs)
	}
}

// pseudoRun ranks candidates for q deterministically: scores come from a
// hash with only 50 distinct values, so ties are everywhere and the doc-id
// tie-break decides most of the top 10, and about two thirds of the relevant
// docs get a boost so the metrics are far from 0. The ranking is kept to
// depth (in scorer order) and then shuffled, so scoring must sort it.
func pseudoRun(qid string, candidates []string, rel map[string]int, depth int, rng *rand.Rand) []Ranked {
	run := make([]Ranked, 0, len(candidates))
	for _, id := range candidates {
		h := fnv.New32a()
		h.Write([]byte(qid + "/" + id))
		v := h.Sum32()
		score := float64(v%50) / 10
		if g := rel[id]; g > 0 && v%3 != 0 {
			score += 1.5 * float64(g)
		}
		run = append(run, Ranked{DocID: id, Score: score})
	}
	slices.SortFunc(run, compareRanked)
	run = run[:min(depth, len(run))]
	rng.Shuffle(len(run), func(i, j int) { run[i], run[j] = run[j], run[i] })
	return run
}

func writeRunFile(t *testing.T, runs map[string][]Ranked) string {
	t.Helper()
	var buf bytes.Buffer
	for _, q := range slices.Sorted(maps.Keys(runs)) {
		if err := WriteTREC(&buf, q, runs[q], "pseudo"); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "run.trec")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestScoreMatchesScorePy(t *testing.T) {
	for _, name := range []string{"cranfield", "cisi", "scifact"} {
		t.Run(name, func(t *testing.T) {
			ds, docs := openShared(t, name)
			ids := make([]string, len(docs))
			for i, d := range docs {
				ids[i] = d.ID
			}
			rng := rand.New(rand.NewPCG(7, 11))
			runs := map[string][]Ranked{}
			for i, q := range ds.Queries {
				if i%7 == 3 {
					continue // no run: both scorers must count the query as 0
				}
				runs[q.ID] = pseudoRun(q.ID, ids, ds.Qrels[q.ID], 150, rng)
			}
			py := runScorePy(t, "eval", filepath.Join(evalRoot(), name), "--run", writeRunFile(t, runs))
			m := Score(runs, ds.Qrels)
			if int(py["queries_scored"]) != m.Queries {
				t.Fatalf("scored %d queries, score.py %v", m.Queries, py["queries_scored"])
			}
			checkClose(t, "ndcg@10", m.NDCG10, py["ndcg@10"], 4)
			checkClose(t, "mrr@10", m.MRR10, py["mrr@10"], 4)
			checkClose(t, "recall@1", m.Recall1, py["recall@1"], 4)
			checkClose(t, "recall@5", m.Recall5, py["recall@5"], 4)
			checkClose(t, "recall@10", m.Recall10, py["recall@10"], 4)
			checkClose(t, "recall@100", m.Recall100, py["recall@100"], 4)
			t.Logf("%s: %+v", name, m)
		})
	}
}

// On SQuAD the reference also reports answer_hit@k, which exercises answer
// normalisation on real Wikipedia text. A subset of queries keeps it quick.
func TestAnswerHitMatchesScorePy(t *testing.T) {
	const name = "squad-v1.1-dev"
	ds, docs := openShared(t, name)
	text := make(map[string]string, len(docs))
	ids := make([]string, len(docs))
	for i, d := range docs {
		text[d.ID], ids[i] = d.Text, d.ID
	}
	rng := rand.New(rand.NewPCG(3, 5))
	runs := map[string][]Ranked{}
	for i, q := range ds.Queries {
		if i%35 != 0 {
			continue
		}
		// Candidates: the relevant paragraph's whole article (where answers
		// also turn up unjudged) plus random others.
		cands := map[string]bool{}
		for id := range ds.Qrels.Relevant(q.ID) {
			prefix := id[:strings.LastIndexByte(id, '-')+1]
			for _, o := range ids {
				if strings.HasPrefix(o, prefix) {
					cands[o] = true
				}
			}
		}
		for range 60 {
			cands[ids[rng.IntN(len(ids))]] = true
		}
		runs[q.ID] = pseudoRun(q.ID, slices.Sorted(maps.Keys(cands)), ds.Qrels[q.ID], 100, rng)
	}
	py := runScorePy(t, "eval", filepath.Join(evalRoot(), name), "--run", writeRunFile(t, runs), "--only-run-queries")

	judged := Qrels{}
	answers := map[string][]string{}
	for _, q := range ds.Queries {
		if _, ok := runs[q.ID]; ok {
			judged[q.ID] = ds.Qrels[q.ID]
			answers[q.ID] = q.Answers
		}
	}
	m := Score(runs, judged)
	if int(py["queries_scored"]) != m.Queries {
		t.Fatalf("scored %d queries, score.py %v", m.Queries, py["queries_scored"])
	}
	checkClose(t, "ndcg@10", m.NDCG10, py["ndcg@10"], 4)
	checkClose(t, "mrr@10", m.MRR10, py["mrr@10"], 4)
	for _, k := range []int{1, 5, 10} {
		hits := 0
		for qid, run := range runs {
			for _, r := range ordered(run)[:min(k, len(run))] {
				if ContainsAnswer(text[r.DocID], answers[qid]) {
					hits++
					break
				}
			}
		}
		key := "answer_hit@" + strconv.Itoa(k)
		checkClose(t, key, float64(hits)/float64(len(runs)), py[key], 4)
	}
}

func TestScoreQAMatchesScorePy(t *testing.T) {
	const name = "squad-v2.0-dev"
	ds, _ := openShared(t, name)
	preds := map[string]string{}
	var lines bytes.Buffer
	for i, q := range ds.Queries {
		gold := ""
		if len(q.Answers) > 0 {
			gold = q.Answers[i%len(q.Answers)]
		}
		var p string
		switch i % 6 {
		case 0:
			p = gold // exact (or a correct "no answer")
		case 1:
			p = "The " + strings.ToUpper(gold) + "."
		case 2:
			f := strings.Fields(gold)
			if len(f) > 0 {
				p = f[len(f)-1] + " and " + f[0]
			}
		case 3:
			p = "" // abstain
		case 4:
			continue // no prediction line
		case 5:
			p = q.Text // a wrong, wordy answer
		}
		preds[q.ID] = p
		line, err := json.Marshal(map[string]string{"id": q.ID, "answer": p})
		if err != nil {
			t.Fatal(err)
		}
		lines.Write(append(line, '\n'))
	}
	predFile := filepath.Join(t.TempDir(), "pred.jsonl")
	if err := os.WriteFile(predFile, lines.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, all := range []bool{false, true} {
		args := []string{"qa", filepath.Join(evalRoot(), name), "--pred", predFile}
		if all {
			args = append(args, "--all")
		}
		py := runScorePy(t, args...)
		m := ScoreQA(ds.Queries, preds, all)
		if m.Questions != int(py["questions"]) || m.Missing != int(py["missing_predictions"]) {
			t.Errorf("all=%v: %d questions, %d missing; score.py %v, %v", all, m.Questions, m.Missing, py["questions"], py["missing_predictions"])
		}
		checkClose(t, "exact_match", 100*m.ExactMatch, py["exact_match"], 2)
		checkClose(t, "f1", 100*m.F1, py["f1"], 2)
		t.Logf("all=%v: %+v", all, m)
	}
}
