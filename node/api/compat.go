package api

// Client compatibility: the parts of Ollama's API (/api/...) and OpenAI's
// (/v1/chat/completions, /v1/completions, /v1/responses, /v1/embeddings,
// /v1/models) that the official clients, the Ollama CLI, Open WebUI and
// LangChain call, so that they can point at a node unchanged and get
// retrieval-augmented answers. This file holds what the two APIs share: the
// routes, the model names a node answers to, and how an answer is asked for
// and streamed. compat_ollama.go, compat_openai.go and compat_responses.go
// hold each API's shapes; compat_embed.go the embedding pass-through;
// compat_errors.go the JSON 404 and 405 answers.
//
// The node answers one model, "edgerag": retrieval over its documents, then
// an answer from its generation model (or extractively). Other names are
// unknown (404 in the API's own error shape), except the local models the
// node uses, which /api/show and /api/ps describe and /api/embed reaches.
//
// What the node answers is the last user message; a short follow-up is
// asked together with the user's previous message (followUpQuestion).
//
// The answer's citations travel twice: as a "Sources:" block at the end of
// the text, so plain clients show them, and as an extra "citations" field
// (the native Citation objects) with an "edgerag" field carrying
// confidence, mode and route, for clients that know to look.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
)

const (
	// MaxChatBody bounds a chat request. It is larger than MaxQueryBody
	// because chat clients resend the whole conversation on every turn.
	MaxChatBody = 256 << 10
	// CompatModel is the model a node answers as: retrieval plus answering.
	CompatModel = "edgerag"
	// maxModelName bounds the echoed model name, which is repeated in every
	// streamed chunk and so would otherwise multiply a large request.
	maxModelName = 256
	// codeModelNotFound is OpenAI's code for an unknown model; the Ollama
	// shape carries only the message.
	codeModelNotFound = "model_not_found"
)

// RegisterCompat adds the Ollama- and OpenAI-compatible routes to h.
// NewHandler calls it; it must be called once per Handler, as the mux
// refuses a pattern registered twice.
func RegisterCompat(h *Handler) {
	// The listings' timestamps are when the node began serving, the
	// closest thing it has to a model's creation time.
	started := time.Now().UTC()
	registerOllama(h, started)
	registerOpenAI(h, started)
}

// compatDigest is a stable stand-in for an Ollama model digest, which some
// clients display or shorten and so expect to be 64 hex digits.
var compatDigest = digestOf(CompatModel)

func digestOf(name string) string {
	s := sha256.Sum256([]byte(name))
	return hex.EncodeToString(s[:])
}

// localModel is a model on the Ollama server that the node uses.
type localModel struct {
	Name       string // as Ollama lists it, with its tag
	Digest     string // hex; at least 12 digits
	Capability string // Ollama's capability: "completion" or "embedding"
	Use        string // what the node uses it for: "generation" or "embedding"
}

// localModels lists the models the node uses, from its status. A node
// without an Ollama server has none.
func (h *Handler) localModels(ctx context.Context) []localModel {
	st, err := h.svc.Status(ctx)
	if err != nil {
		return nil
	}
	var out []localModel
	if name, digest, ok := parseModelID(st.Answerer); ok {
		out = append(out, localModel{Name: name, Digest: digest, Capability: "completion", Use: "generation"})
	}
	if st.Embedding != nil {
		if name, digest, ok := parseModelID(st.Embedding.Model); ok {
			out = append(out, localModel{Name: name, Digest: digest, Capability: "embedding", Use: "embedding"})
		}
	}
	return out
}

// parseModelID reads a model id as models/ollama writes it,
// "ollama/NAME:TAG@DIGEST12", possibly followed by a note such as
// " (down: answering extractively)".
func parseModelID(id string) (name, digest string, ok bool) {
	id, _, _ = strings.Cut(id, " ")
	rest, found := strings.CutPrefix(id, "ollama/")
	if !found || rest == "" {
		return "", "", false
	}
	name, digest, _ = strings.Cut(rest, "@")
	if len(digest) < 12 {
		digest = digestOf(name)
	}
	return name, digest, true
}

// sameModel compares model names as Ollama does: a name without a tag is
// the ":latest" one, and case does not matter.
func sameModel(a, b string) bool {
	norm := func(s string) string {
		s = strings.ToLower(strings.TrimPrefix(s, "ollama/"))
		s, _, _ = strings.Cut(s, "@")
		if i := strings.LastIndexByte(s, '/'); !strings.Contains(s[i+1:], ":") {
			s += ":latest"
		}
		return s
	}
	return norm(a) == norm(b)
}

// isRAGModel reports whether name is the model the node answers as.
func isRAGModel(name string) bool { return sameModel(name, CompatModel) }

// modelNotFound is the error for a model the node does not serve.
func modelNotFound(name string) *Error {
	return Errorf(http.StatusNotFound, codeModelNotFound, "model '%s' not found: this node answers as the model %q", name, CompatModel)
}

// answerModel checks that a request for an answer names the RAG model.
func (h *Handler) answerModel(ctx context.Context, name string) *Error {
	if isRAGModel(name) {
		return nil
	}
	for _, m := range h.localModels(ctx) {
		if sameModel(name, m.Name) {
			return badRequest("%q is the %s model this node uses; for answers from its documents ask the model %q", name, m.Use, CompatModel)
		}
	}
	return modelNotFound(name)
}

// compatQuery reads, decodes and validates a request for an answer; on
// failure it reports the error through fail and returns false.
func (h *Handler) compatQuery(w http.ResponseWriter, r *http.Request, fail func(*Error), parse func([]byte) (chatRequest, *Error)) (chatRequest, QueryRequest, bool) {
	req, q, e := h.compatRequest(w, r, parse)
	if e != nil {
		fail(e)
		return chatRequest{}, QueryRequest{}, false
	}
	return req, q, true
}

func (h *Handler) compatRequest(w http.ResponseWriter, r *http.Request, parse func([]byte) (chatRequest, *Error)) (chatRequest, QueryRequest, *Error) {
	body, e := readChatBody(w, r)
	if e != nil {
		return chatRequest{}, QueryRequest{}, e
	}
	req, e := parse(body)
	if e != nil {
		return chatRequest{}, QueryRequest{}, e
	}
	if e := h.answerModel(r.Context(), req.Model); e != nil {
		return chatRequest{}, QueryRequest{}, e
	}
	q := QueryRequest{Question: req.Question}
	if err := ValidateQuery(&q); err != nil {
		return chatRequest{}, QueryRequest{}, AsError(err)
	}
	return req, q, nil
}

// ask answers q, streaming pieces to onPiece when it is not nil, and returns
// the response with the text that was streamed.
func (h *Handler) ask(ctx context.Context, q QueryRequest, onPiece func(string) error) (QueryResponse, string, error) {
	if onPiece == nil {
		resp, err := h.svc.Query(ctx, q)
		return resp, "", err
	}
	q.Stream = true
	var streamed strings.Builder
	onToken := func(t string) error {
		// Checked here too so that a gone client stops the answer at the
		// next token even if the service does not watch ctx while it
		// generates.
		if err := ctx.Err(); err != nil {
			return err
		}
		if t == "" {
			return nil
		}
		streamed.WriteString(t)
		return onPiece(t)
	}
	var resp QueryResponse
	var err error
	if ss, ok := h.svc.(StreamingService); ok {
		resp, err = ss.QueryStream(ctx, q, onToken)
	} else if resp, err = h.svc.Query(ctx, q); err == nil {
		err = onToken(resp.Answer)
	}
	return resp, streamed.String(), err
}

// streamAnswer streams q's answer through piece, then the tail (correction
// and sources); it returns the response and the whole text sent.
func (h *Handler) streamAnswer(ctx context.Context, q QueryRequest, piece func(string) error) (QueryResponse, string, error) {
	resp, streamed, err := h.ask(ctx, q, piece)
	if err != nil {
		return resp, streamed, err
	}
	tail := streamTail(resp, streamed)
	if tail != "" {
		err = piece(tail)
	}
	return resp, streamed + tail, err
}

// sourcesBlock lists the passages an answer rests on: those it cites, or all
// of them when it marks none. An abstention rests on none, so it gets no
// block (the citations field still lists what was retrieved).
func sourcesBlock(resp QueryResponse) string {
	if resp.Abstained || len(resp.Citations) == 0 {
		return ""
	}
	list := make([]Citation, 0, len(resp.Citations))
	for _, c := range resp.Citations {
		if c.Cited {
			list = append(list, c)
		}
	}
	if len(list) == 0 {
		list = resp.Citations
	}
	var b strings.Builder
	b.WriteString("Sources:")
	for _, c := range list {
		// One line per source and a Markdown list, so that both plain
		// terminals and Markdown-rendering UIs show one source a line.
		fmt.Fprintf(&b, "\n- [%d] ", c.N)
		title, id := oneLine(c.Title), oneLine(c.DocumentID)
		if title != "" && title != id {
			b.WriteString(title)
			b.WriteString(" — ")
		}
		b.WriteString(id)
		// Trust and flags travel with the source, as on /v1/query.
		if c.Trust != "" && c.Trust != "local" {
			b.WriteString(" (" + c.Trust + ")")
		}
		if len(c.Flags) > 0 {
			b.WriteString(" [flagged: " + strings.Join(c.Flags, ", ") + "]")
		}
	}
	return b.String()
}

// oneLine folds runs of whitespace and control characters into one space,
// so that a title cannot break the Sources list apart.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
}

func joinText(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "\n\n" + b
}

// streamTail is the text still to send after a streamed answer: the final
// answer when it differs from what was streamed, then the sources. The
// final answer differs when the node replaced the streamed text (escalated
// to central, abstained for low confidence, fell back to an extractive
// answer after the model failed mid-answer, or removed invalid citation
// marks); chat clients only append, so the replacement is appended with a
// note rather than silently contradicting the text shown.
func streamTail(resp QueryResponse, streamed string) string {
	var t string
	switch {
	case streamed == resp.Answer:
	case streamed == "":
		t = resp.Answer
	default:
		t = "\n\n---\nCorrected answer (it replaces the text above):\n\n" + resp.Answer
	}
	if s := sourcesBlock(resp); s != "" {
		if streamed+t == "" {
			return s
		}
		t += "\n\n" + s
	}
	return t
}

// words estimates a token count as the number of whitespace-separated
// words: the node has no tokenizer for the (possibly absent) model, and the
// usage fields clients read only need to be of the right size.
func words(s string) int { return len(strings.Fields(s)) }

func promptWords(req chatRequest) int {
	n := 0
	for _, m := range req.Messages {
		n += words(m.Content)
	}
	return n
}

// chatMeta is the "edgerag" extra field of chat responses.
type chatMeta struct {
	Confidence float64  `json:"confidence"`
	Mode       string   `json:"mode"`
	Route      string   `json:"route"`
	Abstained  bool     `json:"abstained"`
	Degraded   bool     `json:"degraded,omitempty"`
	Reasons    []string `json:"reasons,omitempty"`
	Node       string   `json:"node,omitempty"`
	RequestID  string   `json:"request_id,omitempty"`
}

func metaOf(resp QueryResponse) *chatMeta {
	return &chatMeta{
		Confidence: resp.Confidence, Mode: resp.Mode, Route: resp.Route, Abstained: resp.Abstained,
		Degraded: resp.Degraded, Reasons: resp.Reasons, Node: resp.Node, RequestID: resp.RequestID,
	}
}

// citationsOf never returns nil, so the citations field is [] rather than
// absent when nothing was retrieved.
func citationsOf(resp QueryResponse) []Citation {
	if resp.Citations == nil {
		return []Citation{}
	}
	return resp.Citations
}

// chatStream writes a streamed chat answer, as newline-delimited JSON or as
// Server-Sent Events. Headers are written with the first event, so an error
// before any text (node not ready, bad shard) still gets its real status.
type chatStream struct {
	w         http.ResponseWriter
	sse       bool
	committed bool
}

func (s *chatStream) send(v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	if s.sse {
		buf.WriteByte('\n') // Encode ended the data line; a blank line ends the event
		return s.write(append([]byte("data: "), buf.Bytes()...))
	}
	return s.write(buf.Bytes())
}

// sendEvent sends v as a named Server-Sent Event, as the Responses API
// streams.
func (s *chatStream) sendEvent(event string, v any) error {
	var buf bytes.Buffer
	buf.WriteString("event: " + event + "\ndata: ")
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	buf.WriteByte('\n')
	return s.write(buf.Bytes())
}

func (s *chatStream) write(b []byte) error {
	if !s.committed {
		s.committed = true
		h := s.w.Header()
		if s.sse {
			h.Set("Content-Type", "text/event-stream")
		} else {
			h.Set("Content-Type", "application/x-ndjson")
		}
		h.Set("Cache-Control", "no-cache")
		s.w.WriteHeader(http.StatusOK)
	}
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
	return nil
}
