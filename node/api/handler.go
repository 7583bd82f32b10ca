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
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

type ctxKey struct{}

type clientCtxKey struct{}

// WithClient returns ctx naming the client a request comes from (ClientOf
// its remote address), so that the service can be fair between clients.
func WithClient(ctx context.Context, client string) context.Context {
	return context.WithValue(ctx, clientCtxKey{}, client)
}

// ClientFrom returns the client WithClient named in ctx, or "".
func ClientFrom(ctx context.Context) string {
	c, _ := ctx.Value(clientCtxKey{}).(string)
	return c
}

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
	h.mux.HandleFunc("GET /v1/jobs/{id}", h.job)
	h.mux.HandleFunc("POST /v1/query", h.query)
	h.mux.HandleFunc("GET /v1/status", h.status)
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	h.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !svc.Ready() {
			e := Errorf(http.StatusServiceUnavailable, CodeNotReady, "the node is still loading its index")
			e.RetryAfter = time.Second
			WriteError(w, e)
			return
		}
		body := map[string]string{"status": "ready"}
		if st, ok := svc.(interface{ Storage() string }); ok {
			// Ready for queries; writes may still be refused, and a
			// monitor should see why.
			body["storage"] = st.Storage()
		}
		WriteJSON(w, http.StatusOK, body)
	})
	RegisterCompat(h)
	registerFlagged(h)
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
	if h.shedEarly(w, r) {
		return
	}
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	ctx := WithClient(WithRequestID(r.Context(), id), ClientOf(r.RemoteAddr))
	h.serveMux(rec, r.WithContext(ctx))
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
	// Async queues the documents as a job: 202 with the job once they are
	// stored durably, indexed in the background (GET /v1/jobs/{id}).
	Async bool `json:"async,omitempty"`
	Document
}

func (h *Handler) ingest(w http.ResponseWriter, r *http.Request) {
	if a, ok := h.svc.(Admitter); ok {
		release, err := a.Admit(r.Context(), "ingest")
		if err != nil {
			WriteError(w, err)
			return
		}
		defer release()
	}
	body, ok := readBody(w, r, MaxIngestBody)
	if !ok {
		return
	}
	var docs []Document
	async := false
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
		async = b.Async
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
	if async {
		ai, ok := h.svc.(AsyncIngester)
		if !ok {
			WriteError(w, Errorf(http.StatusBadRequest, CodeBadRequest, `this node has no ingest job queue: drop "async"`))
			return
		}
		job, err := ai.SubmitIngest(r.Context(), docs)
		if err != nil {
			WriteError(w, err)
			return
		}
		w.Header().Set("Location", "/v1/jobs/"+job.ID)
		WriteJSON(w, http.StatusAccepted, job)
		return
	}
	resp, err := h.svc.Ingest(r.Context(), docs)
	if err != nil {
		WriteError(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, resp)
}

func (h *Handler) job(w http.ResponseWriter, r *http.Request) {
	ai, ok := h.svc.(AsyncIngester)
	if !ok {
		WriteError(w, Errorf(http.StatusNotFound, CodeNotFound, "this node has no ingest job queue"))
		return
	}
	job, err := ai.Job(r.Context(), r.PathValue("id"))
	if err != nil {
		WriteError(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, job)
}

func (h *Handler) deleteDoc(w http.ResponseWriter, r *http.Request) {
	resp, err := h.svc.Delete(r.Context(), r.URL.Query().Get("shard"), r.PathValue("id"))
	if err != nil {
		WriteError(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, resp)
}

// shedEarly refuses a query the node has no room for before anything else
// is done for it (the guard has authenticated it already): no routing, no
// context, no log line, no body read, a prebuilt answer when the service
// has one. Under a surge most requests end here, and what they cost is
// taken from the queries the node answers.
func (h *Handler) shedEarly(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/query" {
		return false
	}
	es, ok := h.svc.(EarlyShedder)
	if !ok {
		return false
	}
	if err := es.ShedEarly("retrieval", ClientOf(r.RemoteAddr)); err != nil {
		WriteError(w, err)
		return true
	}
	return false
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
	if err := checkEscapes(body); err != nil {
		WriteError(w, err)
		return nil, false
	}
	return body, true
}

// checkEscapes refuses the JSON escapes that decode to text the client
// cannot have meant: a lone UTF-16 surrogate (\ud800), which encoding/json
// silently turns into U+FFFD, and NUL (\u0000), which no text field holds
// and which truncates the text in C-based tools downstream. Raw control
// bytes are already refused by the JSON syntax.
func checkEscapes(body []byte) error {
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' {
			continue
		}
		if i+1 >= len(body) || body[i+1] != 'u' {
			i++ // an escape of one character; skip it so "\\" is not read as a start
			continue
		}
		r, ok := hex4(body, i+2)
		if !ok {
			continue // malformed; the decoder says where
		}
		switch {
		case r == 0:
			return Errorf(http.StatusBadRequest, CodeBadRequest, "NUL character (\\u0000) at byte %d: text fields may not contain NUL; remove it", i)
		case r >= 0xD800 && r <= 0xDBFF:
			lo, ok := rune(0), false
			if i+7 < len(body) && body[i+6] == '\\' && body[i+7] == 'u' {
				lo, ok = hex4(body, i+8)
			}
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return Errorf(http.StatusBadRequest, CodeBadRequest, "unpaired UTF-16 surrogate \\u%04x at byte %d: a high surrogate must be followed by a low one (\\udc00-\\udfff); send the character itself as UTF-8", r, i)
			}
			i += 11
		case r >= 0xDC00 && r <= 0xDFFF:
			return Errorf(http.StatusBadRequest, CodeBadRequest, "unpaired UTF-16 surrogate \\u%04x at byte %d: a low surrogate must follow a high one (\\ud800-\\udbff); send the character itself as UTF-8", r, i)
		default:
			i += 5
		}
	}
	return nil
}

// hex4 reads the four hex digits of a \u escape at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

// RefuseBody answers 400 when a request carries a body the endpoint does
// not read (POST /v1/sync, say), so that a client sending parameters there
// learns they were ignored. It returns false when it has answered.
func RefuseBody(w http.ResponseWriter, r *http.Request) bool {
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return true
	}
	var b [1]byte
	if n, _ := io.ReadFull(r.Body, b[:]); n == 0 {
		return true
	}
	WriteError(w, Errorf(http.StatusBadRequest, CodeBadRequest, "%s %s takes no request body: send it empty", r.Method, r.URL.Path))
	return false
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
	var p *Prebuilt
	if errors.As(err, &p) {
		p.Write(w)
		return
	}
	e := AsError(err)
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(max(1, math.Ceil(e.RetryAfter.Seconds())))))
	}
	WriteJSON(w, e.Status, map[string]*Error{"error": e})
}
