package api

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/edgerag/edgerag/sync/wire"
)

func TestValidRequestID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"abc-123", true},
		{"4bf92f3577b34da6a3ce929d0e0e4736", true},
		{strings.Repeat("x", 64), true},
		{"~!#$%&'()*+,./:;<=>?@[]^_`{|}", true},
		{"", false},
		{strings.Repeat("x", 65), false},
		{"two words", false},
		{"tab\there", false},
		{"line\nbreak", false},
		{"caf\u00e9", false}, // valid UTF-8, but not what a frame carries
		{"\x7f", false},
	} {
		if got := ValidRequestID(tc.id); got != tc.want {
			t.Errorf("ValidRequestID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

// FuzzValidRequestID checks that every id the HTTP API accepts from a client
// can travel in a QUIC frame: otherwise escalating that query would fail.
func FuzzValidRequestID(f *testing.F) {
	for _, s := range []string{"abc", "a b", "caf\u00e9", strings.Repeat("z", 65), "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if ValidRequestID(id) {
			if err := wire.ValidRequestID(id); err != nil {
				t.Fatalf("API accepts %q but the wire refuses it: %v", id, err)
			}
		} else if id != "" && wire.ValidRequestID(id) == nil {
			t.Fatalf("API refuses %q that the wire would carry", id)
		}
	})
}

// idFake records the request id its Query saw in the context.
type idFake struct {
	chatFake
	seen string
}

func (f *idFake) Query(ctx context.Context, q QueryRequest) (QueryResponse, error) {
	f.seen = RequestID(ctx)
	return QueryResponse{Answer: "ok", RequestID: RequestID(ctx), Citations: []Citation{}}, nil
}

func TestHandlerRequestID(t *testing.T) {
	for _, tc := range []struct {
		name, header string
		keep         bool
	}{
		{"client id kept", "trace-42", true},
		{"none: generated", "", false},
		{"space: replaced", "trace 42", false},
		{"too long: replaced", strings.Repeat("a", 65), false},
		{"non-ASCII: replaced", "tr\u00e4ce", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &idFake{}
			h := NewHandler(f, nil)
			req := httptest.NewRequest(http.MethodPost, "/v1/query", strings.NewReader(`{"question":"how?"}`))
			req.Header.Set("Content-Type", "application/json")
			if tc.header != "" {
				req.Header.Set("X-Request-Id", tc.header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			got := rec.Header().Get("X-Request-Id")
			if tc.keep && got != tc.header {
				t.Errorf("response X-Request-Id %q, want the client's %q", got, tc.header)
			}
			if !tc.keep && (got == tc.header || !ValidRequestID(got)) {
				t.Errorf("response X-Request-Id %q for client id %q: want a fresh valid id", got, tc.header)
			}
			if f.seen != got {
				t.Errorf("the service saw request id %q, the response header says %q", f.seen, got)
			}
			var resp QueryResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.RequestID != got {
				t.Errorf("response body request_id %q (err %v), header %q", resp.RequestID, err, got)
			}
		})
	}
}

func TestLogHandlerAddsRequestID(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewLogHandler(slog.NewJSONHandler(&buf, nil))).With("node", "edge-1")
	ctx := WithRequestID(context.Background(), "trace-7")
	log.InfoContext(ctx, "from context")
	log.InfoContext(ctx, "explicit", "request_id", "other")
	log.Info("no context")
	log.WithGroup("g").InfoContext(ctx, "grouped", "k", 1)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("want 4 lines, got %d:\n%s", len(lines), buf.String())
	}
	want := []string{`"request_id":"trace-7"`, `"request_id":"other"`, "", `"request_id":"trace-7"`}
	for i, w := range want {
		n := strings.Count(lines[i], `"request_id"`)
		switch {
		case w == "" && n != 0:
			t.Errorf("line %d has a request id without a context carrying one: %s", i, lines[i])
		case w != "" && (n != 1 || !strings.Contains(lines[i], w)):
			t.Errorf("line %d: want exactly one %s: %s", i, w, lines[i])
		}
	}
}
