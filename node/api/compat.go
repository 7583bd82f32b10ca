package api

// Chat compatibility: Ollama's POST /api/chat and OpenAI's
// POST /v1/chat/completions, plus the model-listing calls clients make first,
// so that Open WebUI, LangChain, the ollama and openai libraries and curl
// scripts can point at a node unchanged and get retrieval-augmented answers.
//
// What the node answers is the last message, which must be from the user.
// Earlier messages (system prompts, history) are validated but not used:
// retrieval over a whole conversation finds passages about the conversation,
// not about the question, and a system prompt written for a general model
// would only add noise to the query. A follow-up like "and the second one?"
// therefore needs to be asked in full.
//
// The answer's citations travel twice: as a "Sources:" block at the end of
// the message text, so plain clients show them, and as an extra "citations"
// field (the native Citation objects) with an "edgerag" field carrying
// confidence, mode and route, for clients that know to look.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

const (
	// MaxChatBody bounds a chat request. It is larger than MaxQueryBody
	// because chat clients resend the whole conversation on every turn.
	MaxChatBody = 256 << 10
	// CompatModel is the one model a node lists to chat clients. Requests
	// may name any model: the name is echoed back, never used.
	CompatModel = "edgerag"
	// maxModelName bounds the echoed model name, which is repeated in every
	// streamed chunk and so would otherwise multiply a large request.
	maxModelName = 256
)

// RegisterCompat adds the Ollama- and OpenAI-compatible routes to h.
// NewHandler calls it; it must be called once per Handler, as the mux
// refuses a pattern registered twice.
func RegisterCompat(h *Handler) {
	// The listing's timestamps are when the node began serving, the closest
	// thing it has to a model's creation time.
	started := time.Now().UTC()
	h.mux.HandleFunc("POST /api/chat", h.ollamaChat)
	h.mux.HandleFunc("POST /v1/chat/completions", h.openAIChat)
	h.mux.HandleFunc("GET /api/tags", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, ollamaTags{Models: []ollamaModel{{
			// Ollama lists names with a tag; clients that check the
			// model they are configured with against this list accept
			// both "edgerag" and "edgerag:latest" this way.
			Name: CompatModel + ":latest", Model: CompatModel + ":latest", ModifiedAt: started,
			Digest: compatDigest,
			Details: ollamaModelDetails{
				Format: "edgerag", Family: CompatModel, Families: []string{CompatModel},
			},
		}}})
	})
	h.mux.HandleFunc("GET /api/version", func(w http.ResponseWriter, r *http.Request) {
		// Open WebUI checks a connection with this call; it displays the
		// version but needs nothing from it, so a failing Status still
		// answers rather than marking the connection broken.
		v := "0.0.0"
		if st, err := h.svc.Status(r.Context()); err == nil && st.Version != "" {
			v = st.Version
		}
		WriteJSON(w, http.StatusOK, map[string]string{"version": v})
	})
	h.mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, openAIModelList{Object: "list", Data: []openAIModel{openAIModelFor(CompatModel, started)}})
	})
	h.mux.HandleFunc("GET /v1/models/{model...}", func(w http.ResponseWriter, r *http.Request) {
		// Any name is accepted for chat, so any name "exists" here too.
		WriteJSON(w, http.StatusOK, openAIModelFor(r.PathValue("model"), started))
	})
}

// compatDigest is a stable stand-in for an Ollama model digest, which some
// clients display or shorten and so expect to be 64 hex digits.
var compatDigest = func() string {
	s := sha256.Sum256([]byte(CompatModel))
	return hex.EncodeToString(s[:])
}()

// chatMessage is one message of a chat request, its content reduced to text.
type chatMessage struct {
	Role    string
	Content string
}

// chatRequest is what both chat endpoints use of a request.
type chatRequest struct {
	Model    string
	Messages []chatMessage
	// Stream is nil when the client did not say, because the two APIs
	// have opposite defaults (Ollama streams, OpenAI does not).
	Stream *bool
	// IncludeUsage is OpenAI's stream_options.include_usage: a last chunk
	// with the usage before [DONE].
	IncludeUsage bool
	// Question is the last message's text, trimmed.
	Question string
}

// chatRoles are the roles accepted. "developer" (OpenAI's newer name for
// system) and "function" (its older name for tool) are accepted as well, as
// clients still send both.
var chatRoles = map[string]bool{"system": true, "user": true, "assistant": true, "tool": true, "developer": true, "function": true}

// parseChatRequest decodes a chat request leniently: real clients send many
// fields this node has no use for (options, temperature, tools, keep_alive,
// ...), so unknown fields are ignored, but every field used is type-checked
// with an error naming it. body must already be valid UTF-8.
func parseChatRequest(body []byte) (chatRequest, *Error) {
	bad := func(format string, a ...any) (chatRequest, *Error) {
		return chatRequest{}, Errorf(http.StatusBadRequest, CodeBadRequest, format, a...)
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return bad(`the request body must be a JSON object like {"model":"%s","messages":[{"role":"user","content":"..."}]}`, CompatModel)
	}
	var raw struct {
		Model         json.RawMessage `json:"model"`
		Messages      json.RawMessage `json:"messages"`
		Stream        json.RawMessage `json:"stream"`
		StreamOptions json.RawMessage `json:"stream_options"`
	}
	// RawMessage fields take any JSON value, so only a syntax error (or
	// trailing data, which Unmarshal reports as one) can fail here.
	if err := json.Unmarshal(body, &raw); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return bad("malformed JSON at byte %d: %v", se.Offset, err)
		}
		return bad("malformed JSON: %v", err)
	}
	var req chatRequest
	switch k := jsonKind(raw.Model); k {
	case "", "null":
		req.Model = CompatModel
	case "string":
		_ = json.Unmarshal(raw.Model, &req.Model)
		if len(req.Model) > maxModelName {
			return bad(`"model" is %d bytes; at most %d are accepted`, len(req.Model), maxModelName)
		}
		if req.Model == "" {
			req.Model = CompatModel
		}
	default:
		return bad(`"model" must be a string, got %s`, k)
	}

	switch k := jsonKind(raw.Messages); k {
	case "", "null":
		return bad(`"messages" is missing: send {"messages":[{"role":"user","content":"your question"}]}`)
	case "array":
	default:
		return bad(`"messages" must be an array of {"role":...,"content":...} objects, got %s`, k)
	}
	var msgs []json.RawMessage
	if err := json.Unmarshal(raw.Messages, &msgs); err != nil {
		return bad(`"messages": %v`, err)
	}
	if len(msgs) == 0 {
		return bad(`"messages" is empty: send at least {"role":"user","content":"your question"}`)
	}
	req.Messages = make([]chatMessage, len(msgs))
	for i, m := range msgs {
		if k := jsonKind(m); k != "object" {
			return bad(`messages[%d] must be an object {"role":...,"content":...}, got %s`, i, k)
		}
		var mm struct {
			Role    json.RawMessage `json:"role"`
			Content json.RawMessage `json:"content"`
		}
		if err := json.Unmarshal(m, &mm); err != nil {
			return bad("messages[%d]: %v", i, err)
		}
		switch k := jsonKind(mm.Role); k {
		case "", "null":
			return bad(`messages[%d].role is missing: use "user" for the question`, i)
		case "string":
			_ = json.Unmarshal(mm.Role, &req.Messages[i].Role)
		default:
			return bad("messages[%d].role must be a string, got %s", i, k)
		}
		if !chatRoles[req.Messages[i].Role] {
			return bad(`messages[%d].role %q is not one of "system", "user", "assistant" or "tool"`, i, req.Messages[i].Role)
		}
		text, e := chatContent(mm.Content, i)
		if e != nil {
			return chatRequest{}, e
		}
		req.Messages[i].Content = text
	}
	last := req.Messages[len(req.Messages)-1]
	if last.Role != "user" {
		return bad(`the last message is from %q; it must be the user's question (role "user"), which is what the node answers`, last.Role)
	}
	req.Question = strings.TrimSpace(last.Content)
	switch {
	case req.Question == "":
		return bad("the last message has no text: put the question in its content")
	case len(req.Question) > MaxQuestion:
		// Rejected rather than cut: a question truncated silently would
		// be answered as a different question.
		return bad("the question (the last user message) is %d bytes; at most %d are accepted, and earlier messages are not used, so send just the question", len(req.Question), MaxQuestion)
	}

	switch k := jsonKind(raw.Stream); k {
	case "", "null":
	case "boolean":
		var b bool
		_ = json.Unmarshal(raw.Stream, &b)
		req.Stream = &b
	default:
		return bad(`"stream" must be a boolean, got %s`, k)
	}
	switch k := jsonKind(raw.StreamOptions); k {
	case "", "null":
	case "object":
		var so struct {
			IncludeUsage json.RawMessage `json:"include_usage"`
		}
		if err := json.Unmarshal(raw.StreamOptions, &so); err != nil {
			return bad(`"stream_options": %v`, err)
		}
		switch k := jsonKind(so.IncludeUsage); k {
		case "", "null":
		case "boolean":
			_ = json.Unmarshal(so.IncludeUsage, &req.IncludeUsage)
		default:
			return bad(`"stream_options.include_usage" must be a boolean, got %s`, k)
		}
	default:
		return bad(`"stream_options" must be an object, got %s`, k)
	}
	return req, nil
}

// chatContent returns a message's text. Content is a string in both APIs,
// but OpenAI also allows an array of typed parts (LangChain sends one for
// multimodal messages): its text parts are joined and other parts (images,
// audio) ignored, as retrieval works on text. A null content (an assistant
// message carrying only tool calls) is empty text.
func chatContent(raw json.RawMessage, i int) (string, *Error) {
	bad := func(format string, a ...any) (string, *Error) {
		return "", Errorf(http.StatusBadRequest, CodeBadRequest, format, a...)
	}
	switch k := jsonKind(raw); k {
	case "", "null":
		return "", nil
	case "string":
		var s string
		_ = json.Unmarshal(raw, &s)
		return s, nil
	case "array":
		var parts []json.RawMessage
		if err := json.Unmarshal(raw, &parts); err != nil {
			return bad("messages[%d].content: %v", i, err)
		}
		var texts []string
		for j, p := range parts {
			if k := jsonKind(p); k != "object" {
				return bad(`messages[%d].content[%d] must be an object {"type":"text","text":...}, got %s`, i, j, k)
			}
			var part struct {
				Type json.RawMessage `json:"type"`
				Text json.RawMessage `json:"text"`
			}
			if err := json.Unmarshal(p, &part); err != nil {
				return bad("messages[%d].content[%d]: %v", i, j, err)
			}
			if k := jsonKind(part.Type); k != "string" {
				return bad(`messages[%d].content[%d].type must be a string such as "text", got %s`, i, j, kindOrMissing(k))
			}
			var typ string
			_ = json.Unmarshal(part.Type, &typ)
			if typ != "text" {
				continue
			}
			if k := jsonKind(part.Text); k != "string" {
				return bad("messages[%d].content[%d].text must be a string, got %s", i, j, kindOrMissing(k))
			}
			var s string
			_ = json.Unmarshal(part.Text, &s)
			texts = append(texts, s)
		}
		return strings.Join(texts, "\n"), nil
	default:
		return bad(`messages[%d].content must be a string (or an array of {"type":"text","text":...} parts), got %s`, i, k)
	}
}

// jsonKind names the type of a JSON value from its first byte, or returns
// "" for an absent one. The value has been through a decoder, so the first
// byte is enough.
func jsonKind(raw json.RawMessage) string {
	t := bytes.TrimLeft(raw, " \t\r\n")
	if len(t) == 0 {
		return ""
	}
	switch t[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

func kindOrMissing(k string) string {
	if k == "" {
		return "nothing"
	}
	return k
}

// readChatBody applies readBody's checks (content type, size, UTF-8) with
// the larger chat limit, but returns the error instead of writing it, since
// each chat endpoint writes errors in its own API's shape.
func readChatBody(w http.ResponseWriter, r *http.Request) ([]byte, *Error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || strings.HasPrefix(mt, "multipart/") || (strings.HasPrefix(mt, "application/") && mt != "application/json" && mt != "application/x-www-form-urlencoded") {
			return nil, Errorf(http.StatusUnsupportedMediaType, CodeUnsupported, "Content-Type %q: send JSON (application/json)", ct)
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxChatBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body is larger than %d bytes; send fewer or shorter messages (only the last one is used)", MaxChatBody)
	case err != nil:
		return nil, Errorf(http.StatusBadRequest, CodeBadRequest, "reading request body: %v", err)
	case len(bytes.TrimSpace(body)) == 0:
		return nil, Errorf(http.StatusBadRequest, CodeBadRequest, "request body is empty: send a JSON object")
	case !utf8.Valid(body):
		return nil, Errorf(http.StatusBadRequest, CodeBadRequest, "request body is not valid UTF-8: encode text as UTF-8")
	}
	return body, nil
}

// chatQuery reads and validates a chat request; on failure it reports the
// error through fail and returns false.
func chatQuery(w http.ResponseWriter, r *http.Request, fail func(*Error)) (chatRequest, QueryRequest, bool) {
	body, e := readChatBody(w, r)
	if e != nil {
		fail(e)
		return chatRequest{}, QueryRequest{}, false
	}
	req, e := parseChatRequest(body)
	if e != nil {
		fail(e)
		return chatRequest{}, QueryRequest{}, false
	}
	q := QueryRequest{Question: req.Question}
	if err := ValidateQuery(&q); err != nil {
		fail(AsError(err))
		return chatRequest{}, QueryRequest{}, false
	}
	return req, q, true
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

// Ollama's API.

type ollamaMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ollamaChatResponse is one /api/chat response object, or one line of a
// stream. Durations are nanoseconds, as in Ollama.
type ollamaChatResponse struct {
	Model              string        `json:"model"`
	CreatedAt          time.Time     `json:"created_at"`
	Message            ollamaMessage `json:"message"`
	Done               bool          `json:"done"`
	DoneReason         string        `json:"done_reason,omitempty"`
	TotalDuration      int64         `json:"total_duration,omitempty"`
	PromptEvalCount    int           `json:"prompt_eval_count,omitempty"`
	PromptEvalDuration int64         `json:"prompt_eval_duration,omitempty"`
	EvalCount          int           `json:"eval_count,omitempty"`
	EvalDuration       int64         `json:"eval_duration,omitempty"`
	Citations          []Citation    `json:"citations,omitzero"`
	EdgeRAG            *chatMeta     `json:"edgerag,omitempty"`
}

type ollamaTags struct {
	Models []ollamaModel `json:"models"`
}

type ollamaModel struct {
	Name       string             `json:"name"`
	Model      string             `json:"model"`
	ModifiedAt time.Time          `json:"modified_at"`
	Size       int64              `json:"size"`
	Digest     string             `json:"digest"`
	Details    ollamaModelDetails `json:"details"`
}

type ollamaModelDetails struct {
	ParentModel       string   `json:"parent_model"`
	Format            string   `json:"format"`
	Family            string   `json:"family"`
	Families          []string `json:"families"`
	ParameterSize     string   `json:"parameter_size"`
	QuantizationLevel string   `json:"quantization_level"`
}

// writeOllamaError writes {"error":"message"}: Ollama's clients read the
// error as a string, so the native {"code","message"} object would reach
// users as a decoding failure instead of the message.
func writeOllamaError(w http.ResponseWriter, e *Error) {
	WriteJSON(w, e.Status, map[string]string{"error": e.Message})
}

// ollamaDone fills in the final object of an answer. Retrieval is reported
// as prompt evaluation and answering as evaluation, the nearest Ollama
// phases, so UIs computing a speed get a sensible one.
func ollamaDone(out ollamaChatResponse, resp QueryResponse, req chatRequest, completion string) ollamaChatResponse {
	out.Done, out.DoneReason = true, "stop"
	out.TotalDuration = int64(resp.Timings.TotalMS * 1e6)
	out.PromptEvalCount, out.PromptEvalDuration = promptWords(req), int64(resp.Timings.RetrieveMS*1e6)
	out.EvalCount, out.EvalDuration = words(completion), int64(resp.Timings.AnswerMS*1e6)
	out.Citations, out.EdgeRAG = citationsOf(resp), metaOf(resp)
	return out
}

// ollamaChat serves POST /api/chat. As in Ollama, a request streams unless
// it says "stream": false.
func (h *Handler) ollamaChat(w http.ResponseWriter, r *http.Request) {
	fail := func(e *Error) { writeOllamaError(w, e) }
	req, q, ok := chatQuery(w, r, fail)
	if !ok {
		return
	}
	base := ollamaChatResponse{Model: req.Model, CreatedAt: time.Now().UTC(), Message: ollamaMessage{Role: "assistant"}}
	if req.Stream != nil && !*req.Stream {
		resp, _, err := h.ask(r.Context(), q, nil)
		if err != nil {
			fail(AsError(err))
			return
		}
		out := base
		out.Message.Content = joinText(resp.Answer, sourcesBlock(resp))
		WriteJSON(w, http.StatusOK, ollamaDone(out, resp, req, out.Message.Content))
		return
	}
	s := &chatStream{w: w}
	piece := func(text string) error {
		m := base
		m.CreatedAt, m.Message.Content = time.Now().UTC(), text
		return s.send(m)
	}
	resp, streamed, err := h.ask(r.Context(), q, piece)
	tail := ""
	if err == nil {
		if tail = streamTail(resp, streamed); tail != "" {
			err = piece(tail)
		}
	}
	if err != nil {
		if r.Context().Err() != nil {
			return // the client is gone: nobody to tell
		}
		e := AsError(err)
		if !s.committed {
			fail(e)
			return
		}
		// Ollama reports an error mid-stream as a line of its own.
		_ = s.send(map[string]string{"error": e.Message})
		return
	}
	out := base
	out.CreatedAt = time.Now().UTC()
	_ = s.send(ollamaDone(out, resp, req, streamed+tail))
}

// OpenAI's API.

type openAIMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type openAIChoice struct {
	Index        int           `json:"index"`
	Message      openAIMessage `json:"message"`
	FinishReason string        `json:"finish_reason"`
}

type openAIUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func usageOf(req chatRequest, completion string) openAIUsage {
	p, c := promptWords(req), words(completion)
	return openAIUsage{PromptTokens: p, CompletionTokens: c, TotalTokens: p + c}
}

type openAICompletion struct {
	ID        string         `json:"id"`
	Object    string         `json:"object"`
	Created   int64          `json:"created"`
	Model     string         `json:"model"`
	Choices   []openAIChoice `json:"choices"`
	Usage     openAIUsage    `json:"usage"`
	Citations []Citation     `json:"citations"`
	EdgeRAG   *chatMeta      `json:"edgerag"`
}

type openAIDelta struct {
	Role    string `json:"role,omitempty"`
	Content string `json:"content,omitempty"`
}

type openAIChunkChoice struct {
	Index int         `json:"index"`
	Delta openAIDelta `json:"delta"`
	// FinishReason is null until the last chunk, as in OpenAI's stream.
	FinishReason *string `json:"finish_reason"`
}

type openAIChunk struct {
	ID        string              `json:"id"`
	Object    string              `json:"object"`
	Created   int64               `json:"created"`
	Model     string              `json:"model"`
	Choices   []openAIChunkChoice `json:"choices"`
	Usage     *openAIUsage        `json:"usage,omitempty"`
	Citations []Citation          `json:"citations,omitzero"`
	EdgeRAG   *chatMeta           `json:"edgerag,omitempty"`
}

type openAIModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

type openAIModelList struct {
	Object string        `json:"object"`
	Data   []openAIModel `json:"data"`
}

func openAIModelFor(id string, created time.Time) openAIModel {
	return openAIModel{ID: id, Object: "model", Created: created.Unix(), OwnedBy: CompatModel}
}

type openAIErrorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    string  `json:"code"`
}

func openAIErrorOf(e *Error) map[string]openAIErrorBody {
	typ := "invalid_request_error"
	if e.Status >= 500 {
		typ = "server_error"
	}
	return map[string]openAIErrorBody{"error": {Message: e.Message, Type: typ, Code: e.Code}}
}

// writeOpenAIError writes OpenAI's error shape, which its client libraries
// parse to raise a typed error carrying the message.
func writeOpenAIError(w http.ResponseWriter, e *Error) {
	WriteJSON(w, e.Status, openAIErrorOf(e))
}

// openAIChat serves POST /v1/chat/completions. As in OpenAI, a request
// streams only when it says "stream": true.
func (h *Handler) openAIChat(w http.ResponseWriter, r *http.Request) {
	fail := func(e *Error) { writeOpenAIError(w, e) }
	req, q, ok := chatQuery(w, r, fail)
	if !ok {
		return
	}
	id, created := "chatcmpl-"+NewRequestID(), time.Now().Unix()
	if req.Stream == nil || !*req.Stream {
		resp, _, err := h.ask(r.Context(), q, nil)
		if err != nil {
			fail(AsError(err))
			return
		}
		content := joinText(resp.Answer, sourcesBlock(resp))
		WriteJSON(w, http.StatusOK, openAICompletion{
			ID: id, Object: "chat.completion", Created: created, Model: req.Model,
			Choices:   []openAIChoice{{Message: openAIMessage{Role: "assistant", Content: content}, FinishReason: "stop"}},
			Usage:     usageOf(req, content),
			Citations: citationsOf(resp), EdgeRAG: metaOf(resp),
		})
		return
	}
	s := &chatStream{w: w, sse: true}
	chunk := func(d openAIDelta, finish *string) openAIChunk {
		return openAIChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model,
			Choices: []openAIChunkChoice{{Delta: d, FinishReason: finish}}}
	}
	// The role comes in a chunk of its own before the first content, as
	// OpenAI sends it; clients take the message's role from it.
	role := func() error {
		if s.committed {
			return nil
		}
		return s.send(chunk(openAIDelta{Role: "assistant"}, nil))
	}
	piece := func(text string) error {
		if err := role(); err != nil {
			return err
		}
		return s.send(chunk(openAIDelta{Content: text}, nil))
	}
	resp, streamed, err := h.ask(r.Context(), q, piece)
	tail := ""
	if err == nil {
		if tail = streamTail(resp, streamed); tail != "" {
			err = piece(tail)
		} else {
			err = role()
		}
	}
	if err != nil {
		if r.Context().Err() != nil {
			return // the client is gone: nobody to tell
		}
		e := AsError(err)
		if !s.committed {
			fail(e)
			return
		}
		// An error event and no [DONE], so clients do not take the
		// truncated text for a complete answer; OpenAI's libraries raise
		// on an event with an "error" field.
		_ = s.send(openAIErrorOf(e))
		return
	}
	stop := "stop"
	last := chunk(openAIDelta{}, &stop)
	last.Citations, last.EdgeRAG = citationsOf(resp), metaOf(resp)
	if s.send(last) != nil {
		return
	}
	if req.IncludeUsage {
		u := usageOf(req, streamed+tail)
		if s.send(openAIChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model, Choices: []openAIChunkChoice{}, Usage: &u}) != nil {
			return
		}
	}
	_ = s.write([]byte("data: [DONE]\n\n"))
}
