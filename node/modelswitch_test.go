package node_test

import (
	"context"
	"errors"
	"testing"

	"github.com/edgerag/edgerag/models"
	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
)

// stepGen is a fake generation model for this unit test: it writes one
// token, then waits for release before finishing, so a test can swap
// models while a query is generating.
type stepGen struct {
	name    string
	started chan struct{}
	release chan struct{}
}

func (g *stepGen) Model() string { return g.name }

func (g *stepGen) Generate(ctx context.Context, _ models.GenerateRequest, onToken func(models.Token) error) (models.Answer, []models.Token, error) {
	if err := onToken(models.Token{Text: "x"}); err != nil {
		return models.Answer{}, nil, err
	}
	if g.started != nil {
		close(g.started)
		select {
		case <-g.release:
		case <-ctx.Done():
			return models.Answer{}, nil, ctx.Err()
		}
	}
	return models.Answer{Text: "by " + g.name + " [1]", Mode: models.ModeGenerative, Cited: []int{1}}, nil, nil
}

// TestSetGeneratorSwapsBetweenQueries: a query generating when the model is
// swapped finishes on the old model; the next query uses the new one.
func TestSetGeneratorSwapsBetweenQueries(t *testing.T) {
	old := &stepGen{name: "old", started: make(chan struct{}), release: make(chan struct{})}
	n, err := node.New(node.Config{Name: "swap", DataDir: t.TempDir(), NoSync: true, Generator: old})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := n.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, err := n.Ingest(ctx, manuals); err != nil {
		t.Fatal(err)
	}
	q := api.QueryRequest{Question: "How do I reset the pump after a fault?"}
	type result struct {
		r   api.QueryResponse
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := n.QueryLocal(ctx, q)
		done <- result{r, err}
	}()
	<-old.started
	if err := n.SetGenerator(&stepGen{name: "new"}); err != nil {
		t.Fatal(err)
	}
	if got := n.GeneratorModel(); got != "new" {
		t.Fatalf("GeneratorModel after the swap = %q, want new", got)
	}
	close(old.release)
	res := <-done
	if res.err != nil || res.r.Model != "old" {
		t.Fatalf("the query under way: model %q err %v; want it to finish on the old model", res.r.Model, res.err)
	}
	r, err := n.QueryLocal(ctx, q)
	if err != nil || r.Model != "new" {
		t.Fatalf("next query: model %q err %v; want new", r.Model, err)
	}
	if st, _ := n.Status(ctx); st.Answerer != "new" {
		t.Fatalf("status answerer %q, want new", st.Answerer)
	}
	if err := n.SetGenerator(nil); err == nil {
		t.Fatal("SetGenerator(nil) accepted")
	}
	if err := n.SetEmbedder(nil); err == nil {
		t.Fatal("SetEmbedder(nil) accepted")
	}
	if err := n.SetEmbedder(fakeEmbedder{}); !errors.Is(err, node.ErrNoDense) {
		t.Fatalf("SetEmbedder on a BM25-only node: %v, want ErrNoDense", err)
	}
}

type fakeEmbedder struct{}

func (fakeEmbedder) Model() string { return "e" }
func (fakeEmbedder) Embed(context.Context, []string) ([][]float32, error) {
	return nil, errors.New("unused")
}
