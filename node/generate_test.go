package node_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edgerag/edgerag/models/ollama"
	"github.com/edgerag/edgerag/models/ollama/ollamatest"
	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
)

// generativeNode is a node answering with the tiny generation model of a
// real Ollama server (skips when none can be had).
func generativeNode(t *testing.T) (*node.Node, *ollamatest.Server) {
	t.Helper()
	srv := ollamatest.Start(t)
	c, err := ollama.New(ollama.Config{Host: srv.Host, GenModel: srv.GenModel, NumThread: 1, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	n, err := node.New(node.Config{Name: "gen", DataDir: t.TempDir(), NoSync: true, Generator: c.Generator(), ModelCooldown: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if _, err := n.Ingest(context.Background(), manuals); err != nil {
		t.Fatal(err)
	}
	return n, srv
}

func TestGenerativeAnswerWithLogprobConfidence(t *testing.T) {
	n, _ := generativeNode(t)
	r, err := n.Query(context.Background(), api.QueryRequest{Question: "How do I reset the pump after a fault?"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Mode != "generative" || r.Model == "" || r.Answer == "" {
		t.Fatalf("mode %q model %q answer %q reasons %v", r.Mode, r.Model, r.Answer, r.Reasons)
	}
	for _, s := range []string{"tok_p10", "tok_p50", "low_prob_share", "top_score_norm"} {
		if _, ok := r.Signals[s]; !ok {
			t.Errorf("signal %q missing from %v", s, r.Signals)
		}
	}
	if r.Confidence <= 0 || r.Confidence > 1 {
		t.Errorf("confidence %v", r.Confidence)
	}
	if !strings.Contains(r.Answer, "[1]") || !r.Citations[0].Cited {
		t.Errorf("the tiny model cites [1]; answer %q citations %+v", r.Answer, r.Citations[0])
	}
}

func TestGenerativeStreamOverHTTP(t *testing.T) {
	n, _ := generativeNode(t)
	hs := httptest.NewServer(api.NewHandler(n, nil))
	defer hs.Close()
	resp, err := http.Post(hs.URL+"/v1/query", "application/json", bytes.NewBufferString(`{"question":"reset the pump","stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	s := string(b)
	if strings.Count(s, "event: token\n") < 2 || !strings.Contains(s, "event: done\n") || !strings.Contains(s, `"mode":"generative"`) {
		t.Fatalf("want several token events then done with a generative answer:\n%s", s)
	}
}

// TestModelDownFallsBackAndRecovers stops the Ollama server mid-run: the
// node answers extractively, saying why, and generates again by itself once
// the server is back.
func TestModelDownFallsBackAndRecovers(t *testing.T) {
	n, srv := generativeNode(t)
	ctx := context.Background()
	q := api.QueryRequest{Question: "How do I reset the pump after a fault?"}
	srv.Stop()
	r, err := n.Query(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if r.Mode != "extractive" || !strings.Contains(strings.Join(r.Reasons, ","), "model_unavailable") || !strings.Contains(r.Answer, "RESET") {
		t.Fatalf("with the model down: mode %q reasons %v answer %q", r.Mode, r.Reasons, r.Answer)
	}
	srv.Restart()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err = n.Query(ctx, q)
		if err == nil && r.Mode == "generative" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node did not return to generating after the server came back: %+v %v", r, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
