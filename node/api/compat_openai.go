package api

// OpenAI's API: chat completions, legacy completions, models and the error
// shape its client libraries parse. The Responses API is in
// compat_responses.go, embeddings in compat_embed.go.

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"time"
)

func registerOpenAI(h *Handler, started time.Time) {
	h.mux.HandleFunc("POST /v1/chat/completions", h.openAIChat)
	h.mux.HandleFunc("POST /v1/completions", h.openAICompletions)
	h.mux.HandleFunc("POST /v1/responses", h.openAIResponses)
	h.mux.HandleFunc("POST /v1/embeddings", h.openAIEmbeddings)
	h.mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		list := []openAIModel{openAIModelFor(CompatModel, CompatModel, started)}
		for _, m := range h.localModels(r.Context()) {
			list = append(list, openAIModelFor(m.Name, "ollama", started))
		}
		WriteJSON(w, http.StatusOK, openAIModelList{Object: "list", Data: list})
	})
	h.mux.HandleFunc("GET /v1/models/{model...}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("model")
		if isRAGModel(name) {
			WriteJSON(w, http.StatusOK, openAIModelFor(name, CompatModel, started))
			return
		}
		for _, m := range h.localModels(r.Context()) {
			if sameModel(name, m.Name) {
				WriteJSON(w, http.StatusOK, openAIModelFor(name, "ollama", started))
				return
			}
		}
		writeOpenAIError(w, modelNotFound(name))
	})
}

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

func openAIModelFor(id, owner string, created time.Time) openAIModel {
	return openAIModel{ID: id, Object: "model", Created: created.Unix(), OwnedBy: owner}
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
	body := openAIErrorBody{Message: e.Message, Type: typ, Code: e.Code}
	if e.Code == codeModelNotFound {
		param := "model"
		body.Param = &param
	}
	return map[string]openAIErrorBody{"error": body}
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
	req, q, ok := h.compatQuery(w, r, fail, parseOpenAIChat)
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

// openAIRefuse refuses the OpenAI options that would change what the client
// gets back (tool calls, JSON output, several choices, token log
// probabilities), rather than ignoring them.
func openAIRefuse(f compatFields) *Error {
	switch {
	case present(f.Tools), present(f.Functions):
		return badRequest(`"tools": edgerag answers from the node's documents and does not call tools; remove "tools" (and "functions")`)
	case present(f.Logprobs):
		return badRequest(`"logprobs": edgerag does not return token log probabilities; remove "logprobs" (the "edgerag.confidence" field of the answer says how sure it is)`)
	case present(f.Suffix):
		return badRequest(`"suffix": edgerag answers questions and does not fill in text; remove "suffix"`)
	case present(f.Echo):
		return badRequest(`"echo": edgerag does not repeat the prompt in its answer; remove "echo"`)
	}
	if e := atMostOne(f.N, "n"); e != nil {
		return e
	}
	if e := atMostOne(f.BestOf, "best_of"); e != nil {
		return e
	}
	switch k := jsonKind(f.ResponseFormat); k {
	case "", "null":
	case "object":
		var rf struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(f.ResponseFormat, &rf) != nil || rf.Type != "text" {
			return badRequest(`"response_format" %s: edgerag answers in text with citations and cannot promise JSON; remove "response_format" or send {"type":"text"}`, bytes.TrimSpace(f.ResponseFormat))
		}
	default:
		return badRequest(`"response_format" must be an object like {"type":"text"}, got %s`, k)
	}
	return nil
}

func parseOpenAIChat(body []byte) (chatRequest, *Error) {
	req, e := parseChatRequest(body)
	if e == nil {
		e = openAIRefuse(req.Fields)
	}
	return req, e
}

// parseOpenAICompletion reads /v1/completions: the prompt is a string, or
// an array holding one (several prompts would need several answers).
func parseOpenAICompletion(body []byte) (chatRequest, *Error) {
	f, e := decodeCompat(body, `{"model":"`+CompatModel+`","prompt":"your question"}`)
	if e != nil {
		return chatRequest{}, e
	}
	if e := openAIRefuse(f); e != nil {
		return chatRequest{}, e
	}
	var prompt string
	switch k := jsonKind(f.Prompt); k {
	case "", "null":
		return chatRequest{}, badRequest(`"prompt" is missing: send {"model":"%s","prompt":"your question"}`, CompatModel)
	case "string":
		_ = json.Unmarshal(f.Prompt, &prompt)
	case "array":
		var ps []json.RawMessage
		_ = json.Unmarshal(f.Prompt, &ps)
		if len(ps) != 1 || jsonKind(ps[0]) != "string" {
			return chatRequest{}, badRequest(`"prompt" must be one string (or an array of exactly one string); send one request per prompt`)
		}
		_ = json.Unmarshal(ps[0], &prompt)
	default:
		return chatRequest{}, badRequest(`"prompt" must be a string, got %s`, k)
	}
	return promptRequest(f, prompt)
}

type openAITextChoice struct {
	Text         string  `json:"text"`
	Index        int     `json:"index"`
	Logprobs     *string `json:"logprobs"` // always null
	FinishReason *string `json:"finish_reason"`
}

type openAITextCompletion struct {
	ID        string             `json:"id"`
	Object    string             `json:"object"`
	Created   int64              `json:"created"`
	Model     string             `json:"model"`
	Choices   []openAITextChoice `json:"choices"`
	Usage     *openAIUsage       `json:"usage,omitempty"`
	Citations []Citation         `json:"citations,omitzero"`
	EdgeRAG   *chatMeta          `json:"edgerag,omitempty"`
}

// openAICompletions serves POST /v1/completions, OpenAI's legacy text
// completion: the prompt is answered as a question.
func (h *Handler) openAICompletions(w http.ResponseWriter, r *http.Request) {
	fail := func(e *Error) { writeOpenAIError(w, e) }
	req, q, ok := h.compatQuery(w, r, fail, parseOpenAICompletion)
	if !ok {
		return
	}
	id, created := "cmpl-"+NewRequestID(), time.Now().Unix()
	stop := "stop"
	mk := func(text string, finish *string) openAITextCompletion {
		return openAITextCompletion{ID: id, Object: "text_completion", Created: created, Model: req.Model,
			Choices: []openAITextChoice{{Text: text, FinishReason: finish}}}
	}
	if req.Stream == nil || !*req.Stream {
		resp, _, err := h.ask(r.Context(), q, nil)
		if err != nil {
			fail(AsError(err))
			return
		}
		text := joinText(resp.Answer, sourcesBlock(resp))
		out := mk(text, &stop)
		u := usageOf(req, text)
		out.Usage, out.Citations, out.EdgeRAG = &u, citationsOf(resp), metaOf(resp)
		WriteJSON(w, http.StatusOK, out)
		return
	}
	s := &chatStream{w: w, sse: true}
	resp, text, err := h.streamAnswer(r.Context(), q, func(t string) error { return s.send(mk(t, nil)) })
	if err != nil {
		openAIStreamFailed(w, r, s, err)
		return
	}
	last := mk("", &stop)
	last.Citations, last.EdgeRAG = citationsOf(resp), metaOf(resp)
	if s.send(last) != nil {
		return
	}
	if req.IncludeUsage {
		u := usageOf(req, text)
		if s.send(openAITextCompletion{ID: id, Object: "text_completion", Created: created, Model: req.Model, Choices: []openAITextChoice{}, Usage: &u}) != nil {
			return
		}
	}
	_ = s.write([]byte("data: [DONE]\n\n"))
}

// openAIStreamFailed reports an error that ended a stream: with the
// status when nothing was sent yet, else as an error event and no [DONE],
// so that clients do not take the truncated text for a whole answer
// (OpenAI's libraries raise on an event with an "error" field).
func openAIStreamFailed(w http.ResponseWriter, r *http.Request, s *chatStream, err error) {
	if r.Context().Err() != nil {
		return // the client is gone: nobody to tell
	}
	e := AsError(err)
	if !s.committed {
		writeOpenAIError(w, e)
		return
	}
	_ = s.send(openAIErrorOf(e))
}

type openAIEmbedding struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"` // []float32, or a base64 string
}

// openAIEmbeddings serves POST /v1/embeddings. The official clients ask
// for base64 by default (little-endian float32s), which is honoured.
func (h *Handler) openAIEmbeddings(w http.ResponseWriter, r *http.Request) {
	req, e := h.embedRequest(w, r, func(f compatFields) (json.RawMessage, string) { return f.Input, "input" })
	if e != nil {
		writeOpenAIError(w, e)
		return
	}
	res, e := h.embed(r.Context(), req)
	if e != nil {
		writeOpenAIError(w, e)
		return
	}
	data := make([]openAIEmbedding, len(res.Vectors))
	for i, v := range res.Vectors {
		data[i] = openAIEmbedding{Object: "embedding", Index: i, Embedding: v}
		if req.Base64 {
			b := make([]byte, 4*len(v))
			for j, x := range v {
				binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(x))
			}
			data[i].Embedding = base64.StdEncoding.EncodeToString(b)
		}
	}
	WriteJSON(w, http.StatusOK, map[string]any{
		"object": "list", "data": data, "model": req.Model,
		"usage": map[string]int{"prompt_tokens": res.Words, "total_tokens": res.Words},
	})
}
