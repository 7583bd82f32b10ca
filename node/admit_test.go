package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgerag/edgerag/models"
	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/admission"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/route"
)

// blockingGen stands in for a model server that is busy: every call blocks
// until its context ends, and says when it started and how it ended.
type blockingGen struct {
	started chan struct{}
	ended   chan error
}

func (g *blockingGen) Model() string { return "blocking" }

func (g *blockingGen) Generate(ctx context.Context, _ models.GenerateRequest, _ func(models.Token) error) (models.Answer, []models.Token, error) {
	g.started <- struct{}{}
	<-ctx.Done()
	g.ended <- ctx.Err()
	return models.Answer{}, nil, ctx.Err()
}

func admissionNode(t *testing.T, gen models.Generator, gates []admission.Config) *node.Node {
	t.Helper()
	n, err := node.New(node.Config{Name: "adm", DataDir: t.TempDir(), NoSync: true, Generator: gen, Admission: gates})
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
	return n
}

// A client that hangs up stops the model call it was waiting for: the node
// does not keep generating for nobody.
func TestClientGoneCancelsGeneration(t *testing.T) {
	gen := &blockingGen{started: make(chan struct{}, 1), ended: make(chan error, 1)}
	n := admissionNode(t, gen, nil)
	hs := httptest.NewServer(api.NewHandler(n, nil))
	defer hs.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(ctx, "POST", hs.URL+"/v1/query", strings.NewReader(`{"question":"reset the pump"}`))
		req.Header.Set("Content-Type", "application/json")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-gen.started:
	case <-time.After(5 * time.Second):
		t.Fatal("the model was never called")
	}
	cancel()
	select {
	case err := <-gen.ended:
		if err == nil {
			t.Fatal("the model call ended without its context ending")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the model call went on for 2 s after the client left")
	}
	<-done
	// The slot is released once the model call has returned, a moment
	// after the generator saw its context end: give it that moment.
	deadline := time.Now().Add(2 * time.Second)
	for s := gateStats(n, admission.Generation); s.Running != 0; s = gateStats(n, admission.Generation) {
		if time.Now().After(deadline) {
			t.Fatalf("generation slot still held 2 s after the client left: %+v", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// When the model's queue is full a question is answered from the passages
// at once, marked degraded with reason overload, not queued into a timeout.
func TestBusyModelAnswersExtractively(t *testing.T) {
	gen := &blockingGen{started: make(chan struct{}, 4), ended: make(chan error, 4)}
	gates := admission.Defaults(2)
	gates[1] = admission.Config{Name: admission.Generation, Slots: 1, TargetWait: time.Second, MaxQueue: 1, InitialService: 10 * time.Second}
	n := admissionNode(t, gen, gates)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _, _ = n.Query(ctx, api.QueryRequest{Question: "reset the pump"}) }()
	<-gen.started
	start := time.Now()
	r, err := n.Query(context.Background(), api.QueryRequest{Question: "How do I reset the pump after a fault?"})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("busy-model answer took %v", took)
	}
	if r.Mode != models.ModeExtractive || !r.Degraded || !slices.Contains(r.Reasons, "overload") || r.Answer == "" {
		t.Fatalf("mode %q degraded %v reasons %v answer %q: want an extractive answer marked overload", r.Mode, r.Degraded, r.Reasons, r.Answer)
	}
	cancel()
	wg.Wait()
}

// With every retrieval slot and queue place taken, a query gets 429 with
// Retry-After and the JSON error body at once; an ingest likewise.
func TestFullNodeRefusesWith429(t *testing.T) {
	gates := []admission.Config{
		{Name: admission.Retrieval, Slots: 1, TargetWait: 10 * time.Second, MaxQueue: 1},
		{Name: admission.Ingest, Slots: 1, TargetWait: 10 * time.Second, MaxQueue: 1},
	}
	n := admissionNode(t, nil, gates)
	hs := httptest.NewServer(api.NewHandler(n, nil))
	defer hs.Close()
	for _, tc := range []struct{ class, path, body string }{
		{admission.Retrieval, "/v1/query", `{"question":"reset the pump"}`},
		{admission.Ingest, "/v1/documents", `{"id":"x","body":"some text"}`},
	} {
		t.Run(tc.class, func(t *testing.T) {
			// Take the slot and the queue place as the client the HTTP
			// request comes from: a client that already holds places gets
			// no share of the reserve kept for quiet clients.
			cctx := api.WithClient(context.Background(), "127.0.0.1")
			rel, err := n.Admit(cctx, tc.class)
			if err != nil {
				t.Fatal(err)
			}
			defer rel()
			qctx, qcancel := context.WithCancel(cctx)
			defer qcancel()
			queued := make(chan struct{})
			go func() {
				defer close(queued)
				if r, err := n.Admit(qctx, tc.class); err == nil {
					r()
				}
			}()
			for gateStats(n, tc.class).Waiting == 0 {
				time.Sleep(time.Millisecond)
			}
			start := time.Now()
			resp, err := http.Post(hs.URL+tc.path, "application/json", bytes.NewBufferString(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			took := time.Since(start)
			var body struct {
				Error api.Error `json:"error"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || body.Error.Code != api.CodeOverloaded {
				t.Fatalf("status %d Retry-After %q code %q: want 429 overloaded with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body.Error.Code)
			}
			if took > 100*time.Millisecond {
				t.Errorf("refusal took %v", took)
			}
			qcancel()
			<-queued
		})
	}
}

func gateStats(n *node.Node, class string) admission.Stats {
	for _, s := range n.Admission() {
		if s.Class == class {
			return s
		}
	}
	return admission.Stats{}
}

// A node with no room left sends the query to the least-loaded peer that
// holds its shard, then central, with reason overload; only when nobody
// can take it is the client refused.
func TestOverloadGoesToPeerThenCentral(t *testing.T) {
	holders := []route.PeerInfo{
		{Name: "busy", Alive: true, Load: 0.7, Shards: []string{"pumps"}},
		{Name: "idle", Alive: true, Load: 0.1, Shards: []string{"pumps"}},
		{Name: "full", Alive: true, Load: 1, Shards: []string{"pumps"}},
	}
	for _, tc := range []struct {
		name      string
		behavior  map[string]string
		central   node.Remote
		wantRoute string
		wantAsked []string
		want429   bool
	}{
		{"least-loaded holder", nil, fakeCentral{}, "peer:idle", []string{"idle"}, false},
		{"central when the peers fail", map[string]string{"idle": "fail", "busy": "fail"}, fakeCentral{}, "central", []string{"idle", "busy"}, false},
		{"429 when nobody takes it", map[string]string{"idle": "fail", "busy": "fail"}, fakeCentral{err: errors.New("down")}, "", []string{"idle", "busy"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			peers := &fakePeers{peers: holders, behavior: tc.behavior}
			gates := []admission.Config{{Name: admission.Retrieval, Slots: 1, TargetWait: 10 * time.Second, MaxQueue: 1}}
			n, err := node.New(node.Config{Name: "self", DataDir: t.TempDir(), NoSync: true, Peers: peers, Remote: tc.central, Admission: gates})
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Open(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			if _, err := n.Ingest(context.Background(), []api.Document{{ID: "p", Shard: "pumps", Body: "Reset the pump with the blue button."}}); err != nil {
				t.Fatal(err)
			}
			rel, _ := n.Admit(context.Background(), admission.Retrieval)
			defer rel()
			qctx, qcancel := context.WithCancel(context.Background())
			defer qcancel()
			go func() {
				if r, err := n.Admit(qctx, admission.Retrieval); err == nil {
					r()
				}
			}()
			for gateStats(n, admission.Retrieval).Waiting == 0 {
				time.Sleep(time.Millisecond)
			}
			r, err := n.Query(context.Background(), api.QueryRequest{Question: "how do I reset the pump?", Shard: "pumps"})
			if tc.want429 {
				// The node's own error becomes the API's 429 at the edge.
				if ae := api.AsError(err); err == nil || ae.Status != http.StatusTooManyRequests || ae.RetryAfter == 0 {
					t.Fatalf("got %+v, %v; want a 429 with Retry-After", r, err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if r.Route != tc.wantRoute || !slices.Contains(r.Reasons, route.ReasonOverload) {
					t.Fatalf("route %q reasons %v; want %q with overload", r.Route, r.Reasons, tc.wantRoute)
				}
			}
			if !slices.Equal(peers.asked, tc.wantAsked) {
				t.Errorf("asked %v; want %v", peers.asked, tc.wantAsked)
			}
		})
	}
}
