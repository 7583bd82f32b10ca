// Package answereval measures whether a node's answers can be trusted: it
// runs the hold-out construction of evalset.SplitHoldOut against a real node
// (Badger on disk, the node's own query path) and reports how often the node
// abstains on questions it cannot answer, answers those it can, and how often
// the answers it gives hold the gold answer.
//
// The eval command imports it; serving code does not.
package answereval

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/chunk"
	"github.com/edgerag/edgerag/node/evalset"
	"github.com/edgerag/edgerag/node/lexical"
)

// Options configure one run.
type Options struct {
	Seed uint64 // draws the indexed half and the question sample
	// PerSide caps the questions asked from each side (answerable, left
	// out); 0 asks all.
	PerSide  int
	BM25     lexical.Params
	Chunking chunk.Options
	// MinConfidence is the node's abstention threshold; 0 keeps the node's
	// default.
	MinConfidence float64
	// Rows, when set, receives one JSON line per question with its class,
	// label and signals: the input of the confidence calibration
	// (models/confidence/fitcal).
	Rows io.Writer
	// Edge, when set, starts the node under test instead of a lone scratch
	// node: an edge of a central that holds the whole collection (evalrun
	// builds it, all of it in tmp). Run ingests the indexed half into the
	// edge, and the edge recalibrates from central's answers as in the
	// field; close stops both.
	Edge func(ctx context.Context, tmp string, all []evalset.Doc) (edge *node.Node, close func(), err error)
	// Warmup, with Edge, is the share of each side's sampled questions
	// asked first through the edge's Query (escalating as users' questions
	// do) and not scored. The rest are asked with QueryLocal: the figures
	// are the edge's own answers, abstentions and confidences.
	Warmup float64
}

// Report is what one run measured. Rates are fractions in [0,1].
type Report struct {
	Dataset string  `json:"dataset"`
	Seed    uint64  `json:"seed"`
	QA      bool    `json:"qa"` // questions with gold answers (else qrels define support)
	Indexed int     `json:"indexed_docs"`
	Docs    int     `json:"docs"`
	Answ    int     `json:"answerable"`
	Left    int     `json:"left_out"`
	Imposs  int     `json:"impossible,omitempty"`
	MinConf float64 `json:"min_confidence"`
	// AbstainLeftOut is the share of left-out questions the node abstained
	// on; AnswerRate the share of answerable ones it answered.
	AbstainLeftOut float64 `json:"abstain_left_out"`
	AnswerRate     float64 `json:"answer_rate"`
	// Supported is the share of answers given to answerable questions that
	// hold a gold answer (QA sets) or cite a relevant document (qrels only).
	Supported float64 `json:"supported"`
	// SupportedAll is the share of all answerable questions that got a
	// supported answer (abstentions count as unsupported).
	SupportedAll float64 `json:"supported_of_answerable"`
	// AbstainImpossible is the share of SQuAD 2.0 unanswerable questions
	// on indexed articles the node abstained on.
	AbstainImpossible float64 `json:"abstain_impossible,omitempty"`
	// AUROC ranks answerable above left-out questions by confidence.
	AUROC float64 `json:"auroc"`
	// MaxAbstainConf and MinAnswerConf check that an abstention's
	// confidence is never above an answer's.
	MaxAbstainConf float64 `json:"max_abstain_confidence"`
	MinAnswerConf  float64 `json:"min_answer_confidence"`
	// Warmup counts the questions asked through an edge before the
	// measured ones (Options.Warmup).
	Warmup int `json:"warmup_questions,omitempty"`
}

// Row is one question's outcome, as written to Options.Rows.
type Row struct {
	ID         string             `json:"id"`
	Class      string             `json:"class"` // answerable, left_out, impossible
	Supported  bool               `json:"supported"`
	Abstained  bool               `json:"abstained"`
	Confidence float64            `json:"confidence"`
	Signals    map[string]float64 `json:"signals"`
}

// Run builds the construction from the dataset in dir, indexes the chosen
// half into a scratch node and asks it every sampled question.
func Run(ctx context.Context, dir string, o Options) (Report, error) {
	ds, err := evalset.Open(dir)
	if err != nil {
		return Report{}, err
	}
	var docs []evalset.Doc
	if err := ds.Corpus(func(d evalset.Doc) error { docs = append(docs, d); return nil }); err != nil {
		return Report{}, err
	}
	h := evalset.SplitHoldOut(docs, ds.Queries, ds.Qrels, o.Seed)
	tmp, err := os.MkdirTemp("", "edgerag-answereval-")
	if err != nil {
		return Report{}, err
	}
	defer os.RemoveAll(tmp)
	n, closeNode, err := o.open(ctx, tmp, docs)
	if err != nil {
		return Report{}, err
	}
	defer closeNode()
	if err := ingest(ctx, n, docs, h.Indexed); err != nil {
		return Report{}, fmt.Errorf("ingest %s: %w", dir, err)
	}

	rep := Report{Dataset: dir, Seed: o.Seed, QA: h.QA, Indexed: len(h.Indexed), Docs: len(docs),
		MinConf: n.Tunables().MinConfidence, MinAnswerConf: 1}
	var enc *json.Encoder
	if o.Rows != nil {
		enc = json.NewEncoder(o.Rows)
	}
	var t tally
	ask := func(class string, qs []evalset.Query) error {
		for i, q := range qs {
			if i%256 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			query := n.Query
			if o.Edge != nil {
				query = n.QueryLocal
			}
			resp, err := query(ctx, api.QueryRequest{Question: Clip(q.Text, api.MaxQuestion)})
			if err != nil {
				return fmt.Errorf("question %s: %w", q.ID, err)
			}
			sup := class == "answerable" && isSupported(resp, q, ds.Qrels, h.QA)
			t.add(&rep, class, resp, sup)
			if enc != nil {
				if err := enc.Encode(Row{ID: q.ID, Class: class, Supported: sup, Abstained: resp.Abstained,
					Confidence: resp.Confidence, Signals: resp.Signals}); err != nil {
					return err
				}
			}
		}
		return nil
	}
	answ := evalset.Sample(h.Answerable, o.PerSide, o.Seed)
	left := evalset.Sample(h.LeftOut, o.PerSide, o.Seed+1)
	imp := evalset.Sample(h.Impossible, o.PerSide, o.Seed+2)
	if o.Edge != nil && o.Warmup > 0 {
		// The samples are drawn at random: their first share is as good
		// a warm-up as any, and the warm-up sees both sides in proportion.
		var warm []evalset.Query
		for _, side := range []*[]evalset.Query{&answ, &left, &imp} {
			k := min(len(*side), int(o.Warmup*float64(len(*side))+0.5))
			warm = append(warm, (*side)[:k]...)
			*side = (*side)[k:]
		}
		rng := rand.New(rand.NewPCG(o.Seed, 0x3a4e))
		rng.Shuffle(len(warm), func(i, j int) { warm[i], warm[j] = warm[j], warm[i] })
		for _, q := range warm {
			if _, err := n.Query(ctx, api.QueryRequest{Question: Clip(q.Text, api.MaxQuestion)}); err != nil {
				return Report{}, fmt.Errorf("warm-up question %s: %w", q.ID, err)
			}
		}
		rep.Warmup = len(warm)
	}
	for _, side := range []struct {
		class string
		qs    []evalset.Query
	}{{"answerable", answ}, {"left_out", left}, {"impossible", imp}} {
		if err := ask(side.class, side.qs); err != nil {
			return Report{}, err
		}
	}
	rep.Answ, rep.Left, rep.Imposs = len(answ), len(left), len(imp)
	rep.AbstainLeftOut = ratio(int(rep.AbstainLeftOut), len(left))
	rep.AbstainImpossible = ratio(int(rep.AbstainImpossible), len(imp))
	rep.AnswerRate = ratio(t.answered, len(answ))
	rep.Supported = ratio(t.supported, t.answered)
	rep.SupportedAll = ratio(t.supportedAll, len(answ))
	rep.AUROC = evalset.AUROC(t.posConf, t.negConf)
	return rep, nil
}

// open starts the node under test: o.Edge's, or a lone scratch node.
func (o Options) open(ctx context.Context, tmp string, docs []evalset.Doc) (*node.Node, func(), error) {
	if o.Edge != nil {
		return o.Edge(ctx, tmp, docs)
	}
	n, err := node.New(node.Config{Name: "eval", DataDir: tmp, NoSync: true, BM25: o.BM25, Chunking: o.Chunking, MinConfidence: o.MinConfidence})
	if err != nil {
		return nil, nil, err
	}
	if err := n.Open(ctx); err != nil {
		return nil, nil, err
	}
	return n, func() { n.Close() }, nil
}

// tally counts the outcomes of the questions asked so far.
type tally struct {
	posConf, negConf                  []float64
	answered, supported, supportedAll int
}

// add counts one answer to a question of class; sup says whether it is
// supported. Abstention counts go to rep until Run turns them into rates.
func (t *tally) add(rep *Report, class string, resp api.QueryResponse, sup bool) {
	if resp.Abstained {
		rep.MaxAbstainConf = max(rep.MaxAbstainConf, resp.Confidence)
	} else {
		rep.MinAnswerConf = min(rep.MinAnswerConf, resp.Confidence)
	}
	switch class {
	case "answerable":
		t.posConf = append(t.posConf, resp.Confidence)
		if sup {
			t.supportedAll++
		}
		if !resp.Abstained {
			t.answered++
			if sup {
				t.supported++
			}
		}
	case "left_out":
		t.negConf = append(t.negConf, resp.Confidence)
		if resp.Abstained {
			rep.AbstainLeftOut++
		}
	case "impossible":
		if resp.Abstained {
			rep.AbstainImpossible++
		}
	}
}

// Clip cuts a question longer than the API takes (a few CISI requests are
// whole paragraphs) at the last space before max bytes.
func Clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	if i := strings.LastIndexByte(s[:max], ' '); i > 0 {
		return s[:i]
	}
	return s[:max]
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// isSupported says whether an answer holds what the question asked for: a
// gold answer in its text (QA sets), or a citation of a relevant document
// (retrieval sets, where the passages are the answer).
func isSupported(resp api.QueryResponse, q evalset.Query, qrels evalset.Qrels, qa bool) bool {
	if resp.Abstained {
		return false
	}
	if qa {
		return evalset.ContainsAnswer(StripMarks(resp.Answer), q.Answers)
	}
	rel := qrels.Relevant(q.ID)
	for _, c := range resp.Citations {
		if c.Cited && rel[c.DocumentID] > 0 {
			return true
		}
	}
	return false
}

// StripMarks removes citation marks such as " [2]" so that their numbers
// cannot pass for an answer.
func StripMarks(s string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '[')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j > i+1 && j < len(s) && s[j] == ']' {
			b.WriteString(s[:i])
			s = s[j+1:]
			continue
		}
		b.WriteString(s[:i+1])
		s = s[i+1:]
	}
}

func ingest(ctx context.Context, n *node.Node, docs []evalset.Doc, keep map[string]bool) error {
	var batch []api.Document
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := n.Ingest(ctx, batch)
		batch = batch[:0]
		return err
	}
	for _, d := range docs {
		if !keep[d.ID] {
			continue
		}
		body := d.Text
		if body == "" {
			body = d.Title // as the retrieval eval does: keep empty documents findable by title
		}
		if body == "" {
			continue
		}
		batch = append(batch, api.Document{ID: d.ID, Title: d.Title, Body: body})
		if len(batch) == 500 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// Print writes the report for a person.
func (r Report) Print(w io.Writer) {
	fmt.Fprintf(w, "dataset            %s (seed %d; %d of %d documents indexed)\n", r.Dataset, r.Seed, r.Indexed, r.Docs)
	fmt.Fprintf(w, "questions          %d answerable, %d left out", r.Answ, r.Left)
	if r.Imposs > 0 {
		fmt.Fprintf(w, ", %d unanswerable on indexed articles", r.Imposs)
	}
	fmt.Fprintf(w, "\nmin-confidence     %.3f\n", r.MinConf)
	fmt.Fprintf(w, "abstain, left out  %.3f\nanswer, answerable %.3f\n", r.AbstainLeftOut, r.AnswerRate)
	what := "cite a relevant document"
	if r.QA {
		what = "hold a gold answer"
	}
	fmt.Fprintf(w, "answers that %s  %.3f (%.3f of all answerable questions)\n", what, r.Supported, r.SupportedAll)
	if r.Imposs > 0 {
		fmt.Fprintf(w, "abstain, unanswerable on indexed  %.3f\n", r.AbstainImpossible)
	}
	fmt.Fprintf(w, "AUROC              %.3f\nconfidence         abstentions <= %.3f, answers >= %.3f\n", r.AUROC, r.MaxAbstainConf, r.MinAnswerConf)
}
