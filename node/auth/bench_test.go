package auth_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/auth"
	"github.com/edgerag/edgerag/node/evalset"
)

// BenchmarkQueryAuth measures what the guard adds to a query over real
// HTTP on loopback: the same node behind two servers, one open and one
// guarded, queried alternately in one run, so load on the machine hits
// both alike. It reports the p50 of each and their ratio; the ns/op is
// one open plus one guarded query. The restricted variant puts a third of
// the documents behind a group the token holds, so the chunk filter runs
// on every candidate too.
func BenchmarkQueryAuth(b *testing.B) {
	for _, restricted := range []bool{false, true} {
		b.Run(fmt.Sprintf("restricted=%v", restricted), func(b *testing.B) { benchQueryAuth(b, restricted) })
	}
}

func benchQueryAuth(b *testing.B, restricted bool) {
	ctx := context.Background()
	n, err := node.New(node.Config{DataDir: b.TempDir(), NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := n.Open(ctx); err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	corpus := evalset.Synthetic{Docs: 2000, SectionsPerDoc: 2, WordsPerSection: 60, Vocabulary: 8000, Seed: 5}
	var docs []api.Document
	if err := corpus.Generate(func(d evalset.Doc) error {
		doc := api.Document{ID: d.ID, Title: d.Title, Format: "markdown", Body: d.Text}
		if restricted && len(docs)%3 == 0 {
			doc.Groups = []string{"ops"}
		}
		docs = append(docs, doc)
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	if _, err := n.Ingest(ctx, docs); err != nil {
		b.Fatal(err)
	}
	toks, err := auth.OpenTokens(ctx, auth.StoreKV(n.AuthKV()), nil)
	if err != nil {
		b.Fatal(err)
	}
	tok, _, err := toks.Create(ctx, "bench", auth.RoleQuery, []string{"ops"}, "bench")
	if err != nil {
		b.Fatal(err)
	}
	h := api.NewHandler(n, nil)
	open := httptest.NewServer(h)
	defer open.Close()
	guard := &auth.Guard{Tokens: toks, Audit: n.Audit()}
	guarded := httptest.NewServer(guard.Wrap(h))
	defer guarded.Close()
	oc := api.NewClient(open.URL, open.Client())
	gc := api.NewClient(guarded.URL, guarded.Client())
	gc.Token = tok
	qs := []string{"pump seal overhaul", "coolant pressure valve", "operator shift safety", "hydraulic oil change interval"}
	var tOpen, tAuth []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		q := api.QueryRequest{Question: qs[i%len(qs)], K: 5}
		// Alternate which goes first so neither always meets a warm cache.
		first, second := oc, gc
		if i%2 == 1 {
			first, second = gc, oc
		}
		for _, c := range []*api.Client{first, second} {
			start := time.Now()
			if _, err := c.Query(ctx, q); err != nil {
				b.Fatal(err)
			}
			if c == oc {
				tOpen = append(tOpen, time.Since(start))
			} else {
				tAuth = append(tAuth, time.Since(start))
			}
		}
	}
	b.StopTimer()
	p50 := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[len(d)/2].Nanoseconds()) / 1e3
	}
	po, pa := p50(tOpen), p50(tAuth)
	b.ReportMetric(po, "p50-open-µs")
	b.ReportMetric(pa, "p50-auth-µs")
	b.ReportMetric(pa/po, "auth/open")
}
