package api

// Request decoding shared by the Ollama- and OpenAI-compatible endpoints.
// Real clients send many fields this node has no use for (temperature,
// keep_alive, options, ...), so unknown fields are ignored; every field that
// is used is type-checked with an error naming it, and the options that
// would change what the client gets back (tools, JSON output, several
// choices) are refused by the endpoint rather than dropped.

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"
)

// chatMessage is one message of a chat request, its content reduced to text.
type chatMessage struct {
	Role    string
	Content string
}

// chatRequest is what the answering endpoints use of a request.
type chatRequest struct {
	Model    string
	Messages []chatMessage
	// Stream is nil when the client did not say, because the two APIs
	// have opposite defaults (Ollama streams, OpenAI does not).
	Stream *bool
	// IncludeUsage is OpenAI's stream_options.include_usage: a last chunk
	// with the usage before [DONE].
	IncludeUsage bool
	// Question is what the node is asked: the last user message, trimmed,
	// preceded by the previous user message when the last one is a short
	// follow-up (see followUpQuestion).
	Question string
	// Fields is the whole decoded request, for the endpoint's own fields.
	Fields compatFields
}

// compatFields are the request fields the compat endpoints read. The two
// APIs share most names, so one decode serves every endpoint; each reads
// the fields of its own API. RawMessage takes any JSON value, so a type
// error surfaces where the field is used, with its name.
type compatFields struct {
	Model              json.RawMessage `json:"model"`
	Name               json.RawMessage `json:"name"` // Ollama's older name for model
	Messages           json.RawMessage `json:"messages"`
	Stream             json.RawMessage `json:"stream"`
	StreamOptions      json.RawMessage `json:"stream_options"`
	Prompt             json.RawMessage `json:"prompt"`
	Input              json.RawMessage `json:"input"`
	Instructions       json.RawMessage `json:"instructions"`
	System             json.RawMessage `json:"system"`
	Tools              json.RawMessage `json:"tools"`
	Functions          json.RawMessage `json:"functions"`
	ResponseFormat     json.RawMessage `json:"response_format"`
	Format             json.RawMessage `json:"format"`
	Text               json.RawMessage `json:"text"`
	N                  json.RawMessage `json:"n"`
	BestOf             json.RawMessage `json:"best_of"`
	Echo               json.RawMessage `json:"echo"`
	Suffix             json.RawMessage `json:"suffix"`
	Logprobs           json.RawMessage `json:"logprobs"`
	Think              json.RawMessage `json:"think"`
	Images             json.RawMessage `json:"images"`
	Raw                json.RawMessage `json:"raw"`
	PreviousResponseID json.RawMessage `json:"previous_response_id"`
	Dimensions         json.RawMessage `json:"dimensions"`
	EncodingFormat     json.RawMessage `json:"encoding_format"`
}

// chatRoles are the roles accepted. "developer" (OpenAI's newer name for
// system) and "function" (its older name for tool) are accepted as well, as
// clients still send both.
var chatRoles = map[string]bool{"system": true, "user": true, "assistant": true, "tool": true, "developer": true, "function": true}

// followUpWords is the length, in words, under which the last user message
// is taken for a follow-up to the one before it. "and the second one?" or
// "what about the filter?" retrieve nothing useful alone; a full question
// ("how do I reset the pump after a fault?") is left as asked, since the
// earlier turn would only pull retrieval back to the previous topic.
const followUpWords = 6

func badRequest(format string, a ...any) *Error {
	return Errorf(http.StatusBadRequest, CodeBadRequest, format, a...)
}

// decodeCompat decodes a request body (valid UTF-8) into its fields.
func decodeCompat(body []byte, example string) (compatFields, *Error) {
	var f compatFields
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return f, badRequest("the request body must be a JSON object like %s", example)
	}
	// Only a syntax error (or trailing data, which Unmarshal reports as
	// one) can fail here: every field takes any value.
	if err := json.Unmarshal(body, &f); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return f, badRequest("malformed JSON at byte %d: %v", se.Offset, err)
		}
		return f, badRequest("malformed JSON: %v", err)
	}
	return f, nil
}

// parseModel returns the requested model name, CompatModel when absent.
func parseModel(raw json.RawMessage, field string) (string, *Error) {
	switch k := jsonKind(raw); k {
	case "", "null":
		return CompatModel, nil
	case "string":
		var s string
		_ = json.Unmarshal(raw, &s)
		if len(s) > maxModelName {
			return "", badRequest(`%q is %d bytes; at most %d are accepted`, field, len(s), maxModelName)
		}
		if s == "" {
			return CompatModel, nil
		}
		return s, nil
	default:
		return "", badRequest(`%q must be a string, got %s`, field, k)
	}
}

// parseStream fills in req's stream fields.
func parseStream(f compatFields, req *chatRequest) *Error {
	switch k := jsonKind(f.Stream); k {
	case "", "null":
	case "boolean":
		var b bool
		_ = json.Unmarshal(f.Stream, &b)
		req.Stream = &b
	default:
		return badRequest(`"stream" must be a boolean, got %s`, k)
	}
	switch k := jsonKind(f.StreamOptions); k {
	case "", "null":
	case "object":
		var so struct {
			IncludeUsage json.RawMessage `json:"include_usage"`
		}
		if err := json.Unmarshal(f.StreamOptions, &so); err != nil {
			return badRequest(`"stream_options": %v`, err)
		}
		switch k := jsonKind(so.IncludeUsage); k {
		case "", "null":
		case "boolean":
			_ = json.Unmarshal(so.IncludeUsage, &req.IncludeUsage)
		default:
			return badRequest(`"stream_options.include_usage" must be a boolean, got %s`, k)
		}
	default:
		return badRequest(`"stream_options" must be an object, got %s`, k)
	}
	return nil
}

// parseChatRequest decodes a chat request (Ollama's /api/chat, OpenAI's
// /v1/chat/completions). body must already be valid UTF-8.
func parseChatRequest(body []byte) (chatRequest, *Error) {
	f, e := decodeCompat(body, `{"model":"`+CompatModel+`","messages":[{"role":"user","content":"..."}]}`)
	if e != nil {
		return chatRequest{}, e
	}
	var req chatRequest
	if req.Model, e = parseModel(f.Model, "model"); e != nil {
		return chatRequest{}, e
	}
	switch k := jsonKind(f.Messages); k {
	case "", "null":
		return chatRequest{}, badRequest(`"messages" is missing: send {"messages":[{"role":"user","content":"your question"}]}`)
	case "array":
	default:
		return chatRequest{}, badRequest(`"messages" must be an array of {"role":...,"content":...} objects, got %s`, k)
	}
	if req.Messages, e = parseMessages(f.Messages, "messages"); e != nil {
		return chatRequest{}, e
	}
	if e := finishChat(&req); e != nil {
		return chatRequest{}, e
	}
	if e := parseStream(f, &req); e != nil {
		return chatRequest{}, e
	}
	req.Fields = f
	return req, nil
}

// parseMessages decodes an array of {"role","content"} objects; field names
// the array in errors ("messages", "input").
func parseMessages(raw json.RawMessage, field string) ([]chatMessage, *Error) {
	var msgs []json.RawMessage
	if err := json.Unmarshal(raw, &msgs); err != nil {
		return nil, badRequest(`%q: %v`, field, err)
	}
	if len(msgs) == 0 {
		return nil, badRequest(`%q is empty: send at least {"role":"user","content":"your question"}`, field)
	}
	out := make([]chatMessage, len(msgs))
	for i, m := range msgs {
		if k := jsonKind(m); k != "object" {
			return nil, badRequest(`%s[%d] must be an object {"role":...,"content":...}, got %s`, field, i, k)
		}
		var mm struct {
			Role    json.RawMessage `json:"role"`
			Content json.RawMessage `json:"content"`
		}
		if err := json.Unmarshal(m, &mm); err != nil {
			return nil, badRequest("%s[%d]: %v", field, i, err)
		}
		switch k := jsonKind(mm.Role); k {
		case "", "null":
			return nil, badRequest(`%s[%d].role is missing: use "user" for the question`, field, i)
		case "string":
			_ = json.Unmarshal(mm.Role, &out[i].Role)
		default:
			return nil, badRequest("%s[%d].role must be a string, got %s", field, i, k)
		}
		if !chatRoles[out[i].Role] {
			return nil, badRequest(`%s[%d].role %q is not one of "system", "user", "assistant" or "tool"`, field, i, out[i].Role)
		}
		text, e := chatContent(mm.Content, field, i)
		if e != nil {
			return nil, e
		}
		out[i].Content = text
	}
	return out, nil
}

// finishChat checks that the conversation ends with the user's question and
// sets req.Question from it.
func finishChat(req *chatRequest) *Error {
	last := req.Messages[len(req.Messages)-1]
	if last.Role != "user" {
		return badRequest(`the last message is from %q; it must be the user's question (role "user"), which is what the node answers`, last.Role)
	}
	q := strings.TrimSpace(last.Content)
	switch {
	case q == "":
		return badRequest("the last message has no text: put the question in its content")
	case len(q) > MaxQuestion:
		// Rejected rather than cut: a question truncated silently would
		// be answered as a different question.
		return badRequest("the question (the last user message) is %d bytes; at most %d are accepted", len(q), MaxQuestion)
	}
	req.Question = followUpQuestion(req.Messages, q)
	return nil
}

// followUpQuestion is what the node is asked for a conversation whose last
// user message is q. A short last message is a follow-up: it is asked
// together with the user's previous message, so that retrieval (and the
// answer) see what "it" or "the second one" refers to. Only user messages
// count: the node's own earlier answers would pull retrieval back to the
// passages it already cited, and system prompts are written for general
// models, not for a search. When the pair would exceed MaxQuestion the last
// message is asked alone.
func followUpQuestion(msgs []chatMessage, q string) string {
	if len(strings.Fields(q)) >= followUpWords {
		return q
	}
	for i := len(msgs) - 2; i >= 0; i-- {
		if msgs[i].Role != "user" {
			continue
		}
		prev := strings.TrimSpace(msgs[i].Content)
		if prev == "" {
			continue
		}
		if joined := prev + "\n" + q; len(joined) <= MaxQuestion {
			return joined
		}
		return q
	}
	return q
}

// promptRequest builds a one-message chat from a prompt (Ollama's
// /api/generate, OpenAI's /v1/completions).
func promptRequest(f compatFields, prompt string) (chatRequest, *Error) {
	req := chatRequest{Fields: f, Messages: []chatMessage{{Role: "user", Content: prompt}}}
	var e *Error
	if req.Model, e = parseModel(f.Model, "model"); e != nil {
		return chatRequest{}, e
	}
	if e := parseStream(f, &req); e != nil {
		return chatRequest{}, e
	}
	q := strings.TrimSpace(prompt)
	switch {
	case q == "":
		return chatRequest{}, badRequest(`"prompt" has no text: put the question in it`)
	case len(q) > MaxQuestion:
		return chatRequest{}, badRequest(`"prompt" is %d bytes; at most %d are accepted`, len(q), MaxQuestion)
	}
	req.Question = q
	return req, nil
}

// chatContent returns a message's text. Content is a string in both APIs,
// but OpenAI also allows an array of typed parts (LangChain sends one for
// multimodal messages, the Responses API always may): its text parts are
// joined and other parts (images, audio) ignored, as retrieval works on
// text. A null content (an assistant message carrying only tool calls) is
// empty text.
func chatContent(raw json.RawMessage, field string, i int) (string, *Error) {
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
			return "", badRequest("%s[%d].content: %v", field, i, err)
		}
		var texts []string
		for j, p := range parts {
			if k := jsonKind(p); k != "object" {
				return "", badRequest(`%s[%d].content[%d] must be an object {"type":"text","text":...}, got %s`, field, i, j, k)
			}
			var part struct {
				Type json.RawMessage `json:"type"`
				Text json.RawMessage `json:"text"`
			}
			if err := json.Unmarshal(p, &part); err != nil {
				return "", badRequest("%s[%d].content[%d]: %v", field, i, j, err)
			}
			if k := jsonKind(part.Type); k != "string" {
				return "", badRequest(`%s[%d].content[%d].type must be a string such as "text", got %s`, field, i, j, kindOrMissing(k))
			}
			var typ string
			_ = json.Unmarshal(part.Type, &typ)
			if typ != "text" && typ != "input_text" && typ != "output_text" {
				continue
			}
			if k := jsonKind(part.Text); k != "string" {
				return "", badRequest("%s[%d].content[%d].text must be a string, got %s", field, i, j, kindOrMissing(k))
			}
			var s string
			_ = json.Unmarshal(part.Text, &s)
			texts = append(texts, s)
		}
		return strings.Join(texts, "\n"), nil
	default:
		return "", badRequest(`%s[%d].content must be a string (or an array of {"type":"text","text":...} parts), got %s`, field, i, k)
	}
}

// stringField decodes an optional string field.
func stringField(raw json.RawMessage, field string) (string, *Error) {
	switch k := jsonKind(raw); k {
	case "", "null":
		return "", nil
	case "string":
		var s string
		_ = json.Unmarshal(raw, &s)
		return s, nil
	default:
		return "", badRequest("%q must be a string, got %s", field, k)
	}
}

// present reports whether a field carries a value that asks for something:
// absent, null, false, 0, "", [] and {} ask for nothing.
func present(raw json.RawMessage) bool {
	switch t := string(bytes.TrimSpace(raw)); t {
	case "", "null", "false", "0", `""`:
		return false
	default:
		if len(t) >= 2 && (t[0] == '[' || t[0] == '{') {
			return strings.TrimSpace(t[1:len(t)-1]) != ""
		}
		return true
	}
}

// atMostOne checks a count option (n, best_of) asks for one result.
func atMostOne(raw json.RawMessage, field string) *Error {
	switch k := jsonKind(raw); k {
	case "", "null":
		return nil
	case "number":
		var n float64
		if json.Unmarshal(raw, &n) == nil && n == 1 {
			return nil
		}
		return badRequest("%q = %s: a node gives one answer per request; omit %q or set it to 1", field, raw, field)
	default:
		return badRequest("%q must be a number, got %s", field, k)
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
// each compat endpoint writes errors in its own API's shape.
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
		return nil, Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body is larger than %d bytes; send fewer or shorter messages", MaxChatBody)
	case err != nil:
		return nil, badRequest("reading request body: %v", err)
	case len(bytes.TrimSpace(body)) == 0:
		return nil, badRequest("request body is empty: send a JSON object")
	case !utf8.Valid(body):
		return nil, badRequest("request body is not valid UTF-8: encode text as UTF-8")
	}
	return body, nil
}
