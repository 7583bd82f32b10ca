package api

// JSON for the mux's own answers. http.ServeMux answers an unknown path
// (404) and a wrong method (405) in plain text, which client libraries
// cannot parse: the ollama library reports "Getting text from response",
// openai a bare status. Every such answer is written here instead, in the
// error shape the path's client expects.

import (
	"bytes"
	"net/http"
	"strings"
)

// openAIPaths are the OpenAI-compatible path prefixes (under /v1/, shared
// with the node's own API).
var openAIPaths = []string{"/v1/chat/", "/v1/completions", "/v1/responses", "/v1/embeddings", "/v1/models"}

// serveMux serves r through the mux, answering its 404 and 405 in JSON.
func (h *Handler) serveMux(w http.ResponseWriter, r *http.Request) {
	if _, pattern := h.mux.Handler(r); pattern != "" {
		h.mux.ServeHTTP(w, r)
		return
	}
	// No route: the mux answers 404 or 405 (with the Allow header).
	rec := &muxAnswer{header: http.Header{}, status: http.StatusOK}
	h.mux.ServeHTTP(rec, r)
	if rec.status != http.StatusNotFound && rec.status != http.StatusMethodNotAllowed {
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
		return
	}
	var e *Error
	if rec.status == http.StatusNotFound {
		e = Errorf(http.StatusNotFound, CodeNotFound, "%s %s: no such endpoint on this node%s", r.Method, r.URL.Path, hintFor(r.URL.Path))
	} else {
		allow := rec.header.Get("Allow")
		w.Header().Set("Allow", allow)
		e = Errorf(http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.ReplaceAll(allow, ", ", " or "))
	}
	writeErrorFor(w, r.URL.Path, e)
}

// WriteErrorFor writes e in the shape of the API that path belongs to:
// Ollama's under /api/, OpenAI's under its paths, the node's elsewhere.
// Middleware in front of the handler (authentication) answers with it so
// that every client can read its refusals.
func WriteErrorFor(w http.ResponseWriter, path string, e *Error) { writeErrorFor(w, path, e) }

// writeErrorFor writes e in the shape of the API that path belongs to.
func writeErrorFor(w http.ResponseWriter, path string, e *Error) {
	switch {
	case strings.HasPrefix(path, "/api/"):
		writeOllamaError(w, e)
	case isOpenAIPath(path):
		writeOpenAIError(w, e)
	default:
		WriteError(w, e)
	}
}

func isOpenAIPath(path string) bool {
	for _, p := range openAIPaths {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// hintFor points a client at the endpoints of the API it seems to use.
func hintFor(path string) string {
	switch {
	case strings.HasPrefix(path, "/api/"):
		return " (the Ollama endpoints served are /api/chat, generate, show, ps, tags, embed, embeddings and version)"
	case isOpenAIPath(path):
		return " (the OpenAI endpoints served are /v1/chat/completions, /v1/completions, /v1/responses, /v1/embeddings and /v1/models)"
	}
	return ""
}

// muxAnswer records the mux's answer for a request without a route.
type muxAnswer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (m *muxAnswer) Header() http.Header         { return m.header }
func (m *muxAnswer) WriteHeader(status int)      { m.status = status }
func (m *muxAnswer) Write(b []byte) (int, error) { return m.body.Write(b) }
