package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// recorder is a Service that accepts everything and remembers what it got.
type recorder struct{ docs []Document }

func (r *recorder) Ingest(_ context.Context, docs []Document) (IngestResponse, error) {
	r.docs = docs
	return IngestResponse{}, nil
}
func (r *recorder) Delete(context.Context, string, string) (DeleteResponse, error) {
	return DeleteResponse{}, nil
}
func (r *recorder) Query(context.Context, QueryRequest) (QueryResponse, error) {
	return QueryResponse{}, nil
}
func (r *recorder) Status(context.Context) (Status, error) { return Status{}, nil }
func (r *recorder) Ready() bool                            { return true }

// fuzzBody posts body to path and checks the contract every entry point
// keeps: a 2xx, or a 4xx whose body is {"error":{"code","message"}}; and
// nothing that was not valid UTF-8 reaches the service.
func fuzzBody(t *testing.T, path string, body []byte) *recorder {
	rec := &recorder{}
	h := NewHandler(rec, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body)))
	if w.Code/100 == 2 {
		if !utf8.Valid(body) {
			t.Fatalf("invalid UTF-8 accepted: %q", body)
		}
		return rec
	}
	if w.Code/100 != 4 {
		t.Fatalf("status %d for %q", w.Code, body)
	}
	var e struct {
		Error *Error `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("error body %q for request %q", w.Body.String(), body)
	}
	return rec
}

func FuzzIngestBody(f *testing.F) {
	for _, s := range []string{
		`{"id":"a","body":"text"}`,
		`{"documents":[{"id":"a","body":"x","metadata":{"k":"v"}}]}`,
		`[{"id":"a","body":"x"}]`,
		`{"id":7}`, `{"documents":null}`, "\xff", `{"id":"a","body":"x"}{}`, ``,
		`{"id":"a","body":"x\ud800y"}`, `{"id":"a","body":"x\u0000"}`, `{"id":"a","body":"\ud83d\ude00 \\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := fuzzBody(t, "/v1/documents", body)
		if len(rec.docs) > MaxBatch {
			t.Fatalf("%d documents passed the batch limit", len(rec.docs))
		}
		// No text reaches the service that the client did not send: no
		// NUL, no U+FFFD standing in for a lone surrogate.
		sentFFFD := bytes.Contains(body, []byte("\uFFFD")) || bytes.Contains(bytes.ToLower(body), []byte(`\ufffd`))
		for _, d := range rec.docs {
			for _, text := range []string{d.ID, d.Body, d.Title, d.Source, d.Shard} {
				if strings.ContainsRune(text, 0) || (!sentFFFD && strings.ContainsRune(text, utf8.RuneError)) {
					t.Fatalf("text %q reached the service from %q", text, body)
				}
			}
		}
	})
}

func FuzzQueryBody(f *testing.F) {
	for _, s := range []string{`{"question":"pump","k":3}`, `{"question":""}`, `{"k":-1}`, `{"question":"a","stream":"yes"}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { fuzzBody(t, "/v1/query", body) })
}
