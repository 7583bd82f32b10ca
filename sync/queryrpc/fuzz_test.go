package queryrpc_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/queryrpc"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

// FuzzHandle feeds arbitrary payloads to Handle, as any fleet member may
// send. It must never panic, must refuse whatever is not a valid question
// with a bad-request error that says something, and must never hand the
// answerer a question the HTTP API would have refused.
func FuzzHandle(f *testing.F) {
	for _, seed := range []string{
		`{"query":{"question":"how do I reset the pump?"},"from":"edge-1"}`,
		`{"query":{"question":"pump","k":3,"shard":"line-3"}}`,
		`{"query":{"question":"   "}}`,
		`{"query":{"question":"pump","k":-1}}`,
		`{"query":{"question":"pump","k":1e9}}`,
		`{"query":{"question":"` + strings.Repeat("a", api.MaxQuestion+1) + `"}}`,
		"{\"query\":{\"question\":\"\xff\xfe\"}}",
		`{"query":"pump"}`,
		`{"query":{"question":7}}`,
		`null`,
		`[]`,
		`{}`,
		`{"query":{"question":"pump"}} trailing`,
		``,
		`how do I reset the pump?`,
	} {
		f.Add([]byte(seed))
	}
	peer := transport.Peer{Name: "edge-1", Role: pki.RoleEdge}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var asked *api.QueryRequest
		answer := func(ctx context.Context, q api.QueryRequest) (api.QueryResponse, error) {
			asked = &q
			return api.QueryResponse{Answer: "ok", Route: "local", Node: "central"}, nil
		}
		out, err := queryrpc.Handle(context.Background(), peer, wire.Frame{Type: wire.TypeQuery, RequestID: "fuzz", Payload: payload}, answer)
		if err != nil {
			// The answerer never fails, so every error is a refusal of
			// the payload.
			var te *transport.Error
			if !errors.As(err, &te) || te.Code != wire.CodeBadRequest || te.Message == "" {
				t.Fatalf("payload %q: got %v; want a bad-request refusal that says why", payload, err)
			}
			if asked != nil {
				t.Fatalf("payload %q was refused after the answerer ran", payload)
			}
			return
		}
		if !json.Valid(payload) || !utf8.Valid(payload) {
			t.Fatalf("payload %q is not UTF-8 JSON but was accepted", payload)
		}
		if asked == nil {
			t.Fatalf("payload %q accepted without asking the answerer", payload)
		}
		q := strings.TrimSpace(asked.Question)
		if q == "" || len(q) > api.MaxQuestion || !utf8.ValidString(q) || asked.K < 1 || asked.K > api.MaxK {
			t.Fatalf("payload %q reached the answerer as %+v, which the HTTP API refuses", payload, *asked)
		}
		var resp api.QueryResponse
		if err := json.Unmarshal(out, &resp); err != nil || resp.Answer != "ok" {
			t.Fatalf("response %q does not decode to the answer: %v", out, err)
		}
	})
}
