package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzChatRequest checks the chat decoder's invariants and both endpoints'
// contract: 2xx with well-formed output, or a 4xx in the endpoint's error
// shape; never invalid UTF-8 accepted.
func FuzzChatRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"reset the pump"}]}`,
		`{"messages":[{"role":"system","content":"s"},{"role":"user","content":"q"}],"stream":false}`,
		`{"messages":[{"role":"user","content":[{"type":"text","text":"q"}]}],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"messages":[{"role":"assistant","content":null},{"role":"user","content":"q"}],"options":{"x":1}}`,
		`{"messages":[{"role":"user","content":5}]}`, `{"messages":{}}`, `{"model":[],"messages":[]}`,
		`{"messages":[{"role":"user","content":"q"}]}x`, "{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}",
		`[]`, `null`, ``, `{"messages":[{"role":"user","content":"\ud800"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if utf8.Valid(body) {
			req, e := parseChatRequest(body)
			if e != nil {
				if e.Status != http.StatusBadRequest || e.Code != CodeBadRequest || e.Message == "" {
					t.Fatalf("error %+v for %q", e, body)
				}
			} else {
				last := req.Messages[len(req.Messages)-1]
				switch {
				case last.Role != "user":
					t.Fatalf("last role %q accepted", last.Role)
				case req.Question == "" || req.Question != strings.TrimSpace(req.Question) || len(req.Question) > MaxQuestion:
					t.Fatalf("question %q accepted", req.Question)
				case req.Model == "" || len(req.Model) > maxModelName:
					t.Fatalf("model %q", req.Model)
				}
				for _, m := range req.Messages {
					if !chatRoles[m.Role] {
						t.Fatalf("role %q accepted", m.Role)
					}
				}
			}
		}
		for _, path := range []string{"/api/chat", "/v1/chat/completions"} {
			w := do(newCompat(&chatFake{resp: sampleResponse(), pieces: []string{sampleResponse().Answer}}), http.MethodPost, path, string(body), "")
			switch {
			case w.Code/100 == 2 && !utf8.Valid(body):
				t.Fatalf("%s: invalid UTF-8 accepted: %q", path, body)
			case w.Code/100 == 2:
				checkWellFormed(t, w)
			case w.Code/100 == 4:
				var ok bool
				if path == "/api/chat" {
					var e struct {
						Error string `json:"error"`
					}
					ok = json.Unmarshal(w.Body.Bytes(), &e) == nil && e.Error != ""
				} else {
					var e struct {
						Error struct{ Message, Type, Code string } `json:"error"`
					}
					ok = json.Unmarshal(w.Body.Bytes(), &e) == nil && e.Error.Message != "" && e.Error.Type != "" && e.Error.Code != ""
				}
				if !ok {
					t.Fatalf("%s: error body %q for %q", path, w.Body, body)
				}
			default:
				t.Fatalf("%s: status %d for %q", path, w.Code, body)
			}
		}
	})
}

// checkWellFormed checks a successful response's framing whatever its kind.
func checkWellFormed(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	body := w.Body.String()
	switch ct := w.Header().Get("Content-Type"); {
	case ct == "application/x-ndjson":
		readNDJSON(t, body)
	case ct == "text/event-stream":
		events := readSSE(t, body)
		if events[len(events)-1] != "[DONE]" {
			t.Fatalf("stream ends with %q", events[len(events)-1])
		}
		for _, e := range events[:len(events)-1] {
			if !json.Valid([]byte(e)) {
				t.Fatalf("event %q is not JSON", e)
			}
		}
	case !json.Valid(w.Body.Bytes()):
		t.Fatalf("%s body is not JSON: %q", ct, body)
	}
}

// FuzzCompatRequest checks every other compat endpoint's contract on any
// body: 2xx, or a 4xx in the endpoint's error shape; never a 5xx, never
// invalid UTF-8 accepted.
func FuzzCompatRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"edgerag","prompt":"reset the pump"}`, `{"prompt":"q","stream":true}`, `{"model":"edgerag"}`,
		`{"input":"q"}`, `{"input":["a","b"],"encoding_format":"base64","dimensions":2}`, `{"input":[[1]]}`,
		`{"input":[{"role":"user","content":[{"type":"input_text","text":"q"}]}],"stream":true}`,
		`{"model":"tiny-embed:v2","input":"a"}`, `{"name":"edgerag"}`, `{"prompt":["q"],"n":2}`,
		`{"input":"q","text":{"format":{"type":"json_object"}}}`, `{"prompt":"q","format":"json"}`, "\xff", `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	paths := []string{"/api/generate", "/api/show", "/api/embed", "/api/embeddings", "/v1/completions", "/v1/responses", "/v1/embeddings"}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, h := newLocal()
		for _, path := range paths {
			w := do(h, http.MethodPost, path, string(body), "")
			switch {
			case w.Code/100 == 2 && !utf8.Valid(body):
				t.Fatalf("%s: invalid UTF-8 accepted: %q", path, body)
			case w.Code/100 == 2:
				if w.Header().Get("Content-Type") == "application/json" && !json.Valid(w.Body.Bytes()) {
					t.Fatalf("%s: body is not JSON: %q", path, w.Body)
				}
			case w.Code/100 == 4:
				var ok bool
				if strings.HasPrefix(path, "/api/") {
					var e struct {
						Error string `json:"error"`
					}
					ok = json.Unmarshal(w.Body.Bytes(), &e) == nil && e.Error != ""
				} else {
					var e struct {
						Error struct{ Message, Type, Code string } `json:"error"`
					}
					ok = json.Unmarshal(w.Body.Bytes(), &e) == nil && e.Error.Message != "" && e.Error.Type != ""
				}
				if !ok {
					t.Fatalf("%s: error body %q for %q", path, w.Body, body)
				}
			default:
				t.Fatalf("%s: status %d for %q: %s", path, w.Code, body, w.Body)
			}
		}
	})
}
