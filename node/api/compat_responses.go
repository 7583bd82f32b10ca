package api

// OpenAI's Responses API (POST /v1/responses), text in and text out,
// streamed or not. A node keeps no conversation state, so a request that
// continues a stored one (previous_response_id) is refused: send the turns
// in "input" instead.

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"
)

// parseOpenAIResponse reads a Responses request: "input" is the question,
// or an array of messages whose last one is the user's question.
// "instructions", like a system message, is not used.
func parseOpenAIResponse(body []byte) (chatRequest, *Error) {
	f, e := decodeCompat(body, `{"model":"`+CompatModel+`","input":"your question"}`)
	if e != nil {
		return chatRequest{}, e
	}
	if e := openAIRefuse(f); e != nil {
		return chatRequest{}, e
	}
	if present(f.PreviousResponseID) {
		return chatRequest{}, badRequest(`"previous_response_id": a node keeps no conversations; send the earlier turns in "input" as [{"role":"user","content":"..."}, ...]`)
	}
	if _, e := stringField(f.Instructions, "instructions"); e != nil {
		return chatRequest{}, e
	}
	if e := textFormatIsText(f.Text); e != nil {
		return chatRequest{}, e
	}
	switch k := jsonKind(f.Input); k {
	case "", "null":
		return chatRequest{}, badRequest(`"input" is missing: send {"model":"%s","input":"your question"}`, CompatModel)
	case "string":
		var s string
		_ = json.Unmarshal(f.Input, &s)
		req, e := promptRequest(f, s)
		if e != nil {
			return chatRequest{}, badRequest(`"input": %s`, e.Message)
		}
		return req, nil
	case "array":
	default:
		return chatRequest{}, badRequest(`"input" must be a string or an array of messages, got %s`, k)
	}
	var items []struct {
		Type *string `json:"type"`
	}
	if err := json.Unmarshal(f.Input, &items); err != nil {
		return chatRequest{}, badRequest(`"input" must be an array of {"role":...,"content":...} messages: %v`, err)
	}
	for i, it := range items {
		if it.Type != nil && *it.Type != "message" {
			return chatRequest{}, badRequest(`input[%d] is of type %q: only messages ({"role":...,"content":...}) are accepted`, i, *it.Type)
		}
	}
	req := chatRequest{Fields: f}
	if req.Model, e = parseModel(f.Model, "model"); e != nil {
		return chatRequest{}, e
	}
	if req.Messages, e = parseMessages(f.Input, "input"); e != nil {
		return chatRequest{}, e
	}
	if e := finishChat(&req); e != nil {
		return chatRequest{}, e
	}
	if e := parseStream(f, &req); e != nil {
		return chatRequest{}, e
	}
	return req, nil
}

// textFormatIsText refuses a Responses "text" option asking for anything
// but plain text.
func textFormatIsText(raw json.RawMessage) *Error {
	switch k := jsonKind(raw); k {
	case "", "null":
		return nil
	case "object":
		var t struct {
			Format *struct {
				Type string `json:"type"`
			} `json:"format"`
		}
		if json.Unmarshal(raw, &t) == nil && (t.Format == nil || t.Format.Type == "text") {
			return nil
		}
		return badRequest(`"text" %s: edgerag answers in text with citations and cannot promise JSON; remove "text.format" or send {"format":{"type":"text"}}`, bytes.TrimSpace(raw))
	default:
		return badRequest(`"text" must be an object like {"format":{"type":"text"}}, got %s`, k)
	}
}

type responseText struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	Annotations []any  `json:"annotations"`
}

type responseItem struct {
	Type    string         `json:"type"`
	ID      string         `json:"id"`
	Status  string         `json:"status"`
	Role    string         `json:"role"`
	Content []responseText `json:"content"`
}

type responseUsage struct {
	InputTokens         int            `json:"input_tokens"`
	OutputTokens        int            `json:"output_tokens"`
	TotalTokens         int            `json:"total_tokens"`
	InputTokensDetails  map[string]int `json:"input_tokens_details"`
	OutputTokensDetails map[string]int `json:"output_tokens_details"`
}

type responseObject struct {
	ID                string         `json:"id"`
	Object            string         `json:"object"`
	CreatedAt         int64          `json:"created_at"`
	Status            string         `json:"status"`
	Model             string         `json:"model"`
	Output            []responseItem `json:"output"`
	Usage             *responseUsage `json:"usage"`
	Error             *string        `json:"error"`
	IncompleteDetails *string        `json:"incomplete_details"`
	ParallelToolCalls bool           `json:"parallel_tool_calls"`
	Tools             []any          `json:"tools"`
	Citations         []Citation     `json:"citations,omitzero"`
	EdgeRAG           *chatMeta      `json:"edgerag,omitempty"`
}

func responseUsageOf(req chatRequest, text string) *responseUsage {
	u := usageOf(req, text)
	return &responseUsage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens, TotalTokens: u.TotalTokens,
		InputTokensDetails: map[string]int{"cached_tokens": 0}, OutputTokensDetails: map[string]int{"reasoning_tokens": 0}}
}

// openAIResponses serves POST /v1/responses.
func (h *Handler) openAIResponses(w http.ResponseWriter, r *http.Request) {
	fail := func(e *Error) { writeOpenAIError(w, e) }
	req, q, ok := h.compatQuery(w, r, fail, parseOpenAIResponse)
	if !ok {
		return
	}
	id := NewRequestID()
	base := responseObject{ID: "resp_" + id, Object: "response", CreatedAt: time.Now().Unix(), Status: "in_progress",
		Model: req.Model, Output: []responseItem{}, Tools: []any{}}
	item := responseItem{Type: "message", ID: "msg_" + id, Status: "in_progress", Role: "assistant", Content: []responseText{}}
	done := func(resp QueryResponse, text string) responseObject {
		out := base
		it := item
		it.Status, it.Content = "completed", []responseText{{Type: "output_text", Text: text, Annotations: []any{}}}
		out.Status, out.Output, out.Usage = "completed", []responseItem{it}, responseUsageOf(req, text)
		out.Citations, out.EdgeRAG = citationsOf(resp), metaOf(resp)
		return out
	}
	if req.Stream == nil || !*req.Stream {
		resp, _, err := h.ask(r.Context(), q, nil)
		if err != nil {
			fail(AsError(err))
			return
		}
		WriteJSON(w, http.StatusOK, done(resp, joinText(resp.Answer, sourcesBlock(resp))))
		return
	}
	s := &chatStream{w: w, sse: true}
	seq := 0
	event := func(typ string, fields map[string]any) error {
		fields["type"], fields["sequence_number"] = typ, seq
		seq++
		return s.sendEvent(typ, fields)
	}
	// The opening events go out with the first piece of text, so that an
	// error before any (node not ready) still gets its real status.
	open := func() error {
		if s.committed {
			return nil
		}
		for _, e := range []struct {
			typ    string
			fields map[string]any
		}{
			{"response.created", map[string]any{"response": base}},
			{"response.in_progress", map[string]any{"response": base}},
			{"response.output_item.added", map[string]any{"output_index": 0, "item": item}},
			{"response.content_part.added", map[string]any{"item_id": item.ID, "output_index": 0, "content_index": 0,
				"part": responseText{Type: "output_text", Annotations: []any{}}}},
		} {
			if err := event(e.typ, e.fields); err != nil {
				return err
			}
		}
		return nil
	}
	piece := func(t string) error {
		if err := open(); err != nil {
			return err
		}
		return event("response.output_text.delta", map[string]any{"item_id": item.ID, "output_index": 0, "content_index": 0, "delta": t})
	}
	resp, text, err := h.streamAnswer(r.Context(), q, piece)
	if err == nil {
		err = open()
	}
	if err != nil {
		if r.Context().Err() != nil {
			return
		}
		e := AsError(err)
		if !s.committed {
			fail(e)
			return
		}
		_ = event("error", map[string]any{"code": e.Code, "message": e.Message, "param": nil, "error": openAIErrorOf(e)["error"]})
		return
	}
	final := done(resp, text)
	part := final.Output[0].Content[0]
	for _, e := range []struct {
		typ    string
		fields map[string]any
	}{
		{"response.output_text.done", map[string]any{"item_id": item.ID, "output_index": 0, "content_index": 0, "text": text}},
		{"response.content_part.done", map[string]any{"item_id": item.ID, "output_index": 0, "content_index": 0, "part": part}},
		{"response.output_item.done", map[string]any{"output_index": 0, "item": final.Output[0]}},
		{"response.completed", map[string]any{"response": final}},
	} {
		if event(e.typ, e.fields) != nil {
			return
		}
	}
}
