package node_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/edgerag/edgerag/node/api"
)

// TestMetricsAfterIngestAndQuery scrapes /metrics the way Prometheus does
// and finds the series an operator's dashboard is built on.
func TestMetricsAfterIngestAndQuery(t *testing.T) {
	ctx := context.Background()
	n := newNode(t, t.TempDir())
	h := api.NewHandler(n, nil)
	h.Handle("GET /metrics", n.Metrics().Handler())
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := api.NewClient(srv.URL, srv.Client())
	if _, err := c.Ingest(ctx, manuals); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Query(ctx, api.QueryRequest{Question: "How do I reset the pump after a fault?"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Query(ctx, api.QueryRequest{Question: "football world cup 1954"}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	for _, want := range []string{
		`edgerag_answers_total{mode="extractive",outcome="answered",route="local"} 1`,
		`edgerag_answers_total{mode="extractive",outcome="abstained",route="local"} 1`,
		`edgerag_query_duration_seconds_count{route="local"} 2`,
		`edgerag_ingested_documents_total 3`,
		`edgerag_shard_version{shard="default"} 1`,
		`edgerag_shard_documents{shard="default"} 3`,
		`edgerag_model_up -1`,
		`edgerag_central_up -1`,
		`edgerag_store_bytes`,
		`edgerag_retrieval_duration_seconds_bucket`,
		`edgerag_admission_running{class="retrieval"} 0`,
		`edgerag_admission_waiting{class="retrieval"} 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
