package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

type ctxKey struct{}

// WithRequestID returns a context carrying the request id, which every hop
// (edge, peer, central) logs so one query can be followed across nodes.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// RequestID returns the request id in ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// NewRequestID returns a random 16-hex-digit id.
func NewRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Handler serves the node API.
type Handler struct {
	svc Service
	log *slog.Logger
	mux *http.ServeMux
}

// NewHandler returns the HTTP handler for svc. Extra routes (metrics, the
// status page) can be added with Handle.
func NewHandler(svc Service, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{svc: svc, log: log, mux: http.NewServeMux()}
	h.mux.HandleFunc("POST /v1/documents", h.ingest)
	h.mux.HandleFunc("DELETE /v1/documents/{id}", h.deleteDoc)
	h.mux.HandleFunc("POST /v1/query", h.query)
	h.mux.HandleFunc("GET /v1/status", h.status)
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	h.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !svc.Ready() {
			WriteError(w, Errorf(http.StatusServiceUnavailable, CodeNotReady, "the node is still loading its index"))
			return
		}
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	RegisterCompat(h)
	return h
}

// Handle adds a route to the mux.
func (h *Handler) Handle(pattern string, handler http.Handler) { h.mux.Handle(pattern, handler) }

// ServeHTTP tags the request with an id, serves it and logs the outcome.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := r.Header.Get("X-Request-Id")
	if !ValidRequestID(id) {
		id = NewRequestID()
	}
	w.Header().Set("X-Request-Id", id)
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	h.serveMux(rec, r.WithContext(WithRequestID(r.Context(), id)))
	level := slog.LevelDebug
	if rec.status >= 500 {
		level = slog.LevelWarn
	}
	h.log.Log(r.Context(), level, "http", "method", r.Method, "path", r.URL.Path, "status", rec.status,
		"ms", float64(time.Since(start).Microseconds())/1000, "request_id", id)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// ingestBody accepts {"documents":[...]} or a single document object.
type ingestBody struct {
	Documents []Document `json:"documents"`
	Document
}

func (h *Handler) ingest(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, MaxIngestBody)
	if !ok {
		return
	}
	var docs []Document
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		if err := decodeStrict(t, &docs); err != nil {
			WriteError(w, err)
			return
		}
	} else {
		var b ingestBody
		if err := decodeStrict(body, &b); err != nil {
			WriteError(w, err)
			return
		}
		single := b.Document.ID != "" || b.Document.Body != ""
		switch {
		case single && b.Documents != nil:
			WriteError(w, Errorf(http.StatusBadRequest, CodeBadRequest, `send either one document or {"documents":[...]}, not both`))
			return
		case single:
			docs = []Document{b.Document}
		default:
			docs = b.Documents
		}
	}
	if len(docs) == 0 {
		WriteError(w, Errorf(http.StatusBadRequest, CodeBadRequest, `no documents: send {"id":..,"body":..} or {"documents":[...]}`))
		return
	}
	if len(docs) > MaxBatch {
		WriteError(w, Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "%d documents in one request; send at most %d per request", len(docs), MaxBatch))
		return
	}
	resp, err := h.svc.Ingest(r.Context(), docs)
	if err != nil {
		WriteError(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, resp)
}

func (h *Handler) deleteDoc(w http.ResponseWriter, r *http.Request) {
	resp, err := h.svc.Delete(r.Context(), r.URL.Query().Get("shard"), r.PathValue("id"))
	if err != nil {
		WriteError(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, resp)
}

func (h *Handler) query(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, MaxQueryBody)
	if !ok {
		return
	}
	var q QueryRequest
	if err := decodeStrict(body, &q); err != nil {
		WriteError(w, err)
		return
	}
	if err := ValidateQuery(&q); err != nil {
		WriteError(w, err)
		return
	}
	if q.Stream {
		h.stream(w, r, q)
		return
	}
	resp, err := h.svc.Query(r.Context(), q)
	if err != nil {
		WriteError(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, resp)
}

// StreamingService is implemented by services that can stream an answer's
// tokens as they are produced.
type StreamingService interface {
	QueryStream(ctx context.Context, req QueryRequest, onToken func(text string) error) (QueryResponse, error)
}

// stream answers as Server-Sent Events: "token" events carry text as it is
// produced, a final "done" event carries the whole response (citations,
// confidence), or an "error" event the error body.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, q QueryRequest) {
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	send := func(event string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	}
	onToken := func(t string) error { return send("token", map[string]string{"text": t}) }
	var resp QueryResponse
	var err error
	if ss, ok := h.svc.(StreamingService); ok {
		resp, err = ss.QueryStream(r.Context(), q, onToken)
	} else if resp, err = h.svc.Query(r.Context(), q); err == nil {
		err = onToken(resp.Answer)
	}
	if err != nil {
		_ = send("error", map[string]*Error{"error": AsError(err)})
		return
	}
	_ = send("done", resp)
}

func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	st, err := h.svc.Status(r.Context())
	if err != nil {
		WriteError(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, st)
}

// ValidateQuery checks a query and fills in defaults.
func ValidateQuery(q *QueryRequest) error {
	q.Question = strings.TrimSpace(q.Question)
	switch {
	case q.Question == "":
		return Errorf(http.StatusBadRequest, CodeBadRequest, `"question" is empty: ask something, e.g. {"question":"how do I reset the pump?"}`)
	case len(q.Question) > MaxQuestion:
		return Errorf(http.StatusBadRequest, CodeBadRequest, "question is %d bytes; at most %d are accepted", len(q.Question), MaxQuestion)
	case !utf8.ValidString(q.Question):
		return Errorf(http.StatusBadRequest, CodeBadRequest, "question is not valid UTF-8")
	case q.K < 0 || q.K > MaxK:
		return Errorf(http.StatusBadRequest, CodeBadRequest, `"k" = %d: must be between 1 and %d (or omitted for 5)`, q.K, MaxK)
	}
	if q.K == 0 {
		q.K = 5
	}
	return nil
}

// readBody reads at most limit bytes and checks that they are UTF-8 JSON.
// encoding/json would silently replace invalid UTF-8 with U+FFFD, storing
// text the client never sent, so the check comes first.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || strings.HasPrefix(mt, "multipart/") || (strings.HasPrefix(mt, "application/") && mt != "application/json" && mt != "application/x-www-form-urlencoded") {
			WriteError(w, Errorf(http.StatusUnsupportedMediaType, CodeUnsupported, "Content-Type %q: send JSON (application/json)", ct))
			return nil, false
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		WriteError(w, Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body is larger than %d bytes; split it into smaller requests", limit))
		return nil, false
	case err != nil:
		WriteError(w, Errorf(http.StatusBadRequest, CodeBadRequest, "reading request body: %v", err))
		return nil, false
	case len(bytes.TrimSpace(body)) == 0:
		WriteError(w, Errorf(http.StatusBadRequest, CodeBadRequest, "request body is empty: send a JSON object"))
		return nil, false
	case !utf8.Valid(body):
		WriteError(w, Errorf(http.StatusBadRequest, CodeBadRequest, "request body is not valid UTF-8: encode text as UTF-8"))
		return nil, false
	}
	return body, true
}

// decodeStrict decodes one JSON value, refusing unknown fields and trailing
// data, with errors that name the field and the expected type.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			return Errorf(http.StatusBadRequest, CodeBadRequest, "field %q must be a JSON %s, got %s", strings.TrimPrefix(te.Field, "Document."), jsonType(te.Type.Kind().String()), te.Value)
		case errors.As(err, &se):
			return Errorf(http.StatusBadRequest, CodeBadRequest, "malformed JSON at byte %d: %v", se.Offset, err)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return Errorf(http.StatusBadRequest, CodeBadRequest, "%s; check the field names in the API reference", strings.TrimPrefix(err.Error(), "json: "))
		default:
			return Errorf(http.StatusBadRequest, CodeBadRequest, "malformed JSON: %v", err)
		}
	}
	if dec.More() {
		return Errorf(http.StatusBadRequest, CodeBadRequest, "unexpected data after the JSON value: send exactly one object")
	}
	return nil
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "int", "int64", "uint64":
		return "integer"
	case "float64":
		return "number"
	case "bool":
		return "boolean"
	case "slice":
		return "array"
	case "map", "struct":
		return "object"
	}
	return kind
}

// DecodeJSON reads r's body, at most limit bytes, into v with the checks
// every endpoint of the API makes: Content-Type, size, UTF-8, exactly one
// JSON value with known fields. On failure it has written the error to w
// and returns false. Endpoints registered from outside this package (fleet,
// sync, keys) use it so that the whole API refuses bad input the same way.
func DecodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	body, ok := readBody(w, r, limit)
	if !ok {
		return false
	}
	if err := decodeStrict(body, v); err != nil {
		WriteError(w, err)
		return false
	}
	return true
}

// WriteJSON writes v as the JSON response with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// WriteError writes err as the API's error body, {"error": {code, message}},
// with the status its *Error carries (500 for any other error).
func WriteError(w http.ResponseWriter, err error) {
	e := AsError(err)
	WriteJSON(w, e.Status, map[string]*Error{"error": e})
}
