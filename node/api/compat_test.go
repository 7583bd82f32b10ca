package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// chatFake is a Service and StreamingService with a canned answer. It
// streams pieces, then returns resp and err; with endless set it streams
// until onToken fails and reports how it ended on done.
type chatFake struct {
	resp    QueryResponse
	err     error
	pieces  []string
	endless bool
	done    chan error

	mu  sync.Mutex
	got []QueryRequest
}

func (f *chatFake) record(q QueryRequest) {
	f.mu.Lock()
	f.got = append(f.got, q)
	f.mu.Unlock()
}

func (f *chatFake) calls() []QueryRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]QueryRequest(nil), f.got...)
}

func (f *chatFake) Ingest(context.Context, []Document) (IngestResponse, error) {
	return IngestResponse{}, nil
}
func (f *chatFake) Delete(context.Context, string, string) (DeleteResponse, error) {
	return DeleteResponse{}, nil
}
func (f *chatFake) Status(context.Context) (Status, error) { return Status{Version: "1.2.3"}, nil }
func (f *chatFake) Ready() bool                            { return true }

func (f *chatFake) Query(_ context.Context, q QueryRequest) (QueryResponse, error) {
	f.record(q)
	return f.resp, f.err
}

func (f *chatFake) QueryStream(ctx context.Context, q QueryRequest, onToken func(string) error) (QueryResponse, error) {
	f.record(q)
	if f.endless {
		// Bounded so that a handler that never stops the stream fails the
		// test instead of hanging it.
		for range 20000 {
			if err := onToken("tick "); err != nil {
				f.done <- err
				return QueryResponse{}, err
			}
			time.Sleep(100 * time.Microsecond)
		}
		f.done <- nil
		return f.resp, nil
	}
	for _, p := range f.pieces {
		if err := onToken(p); err != nil {
			return QueryResponse{}, err
		}
	}
	return f.resp, f.err
}

// plainService hides QueryStream, for the fallback that streams a
// non-streaming service's answer as one piece.
type plainService struct{ Service }

func sampleResponse() QueryResponse {
	return QueryResponse{
		Answer: "Hold the reset button for five seconds [1].",
		Citations: []Citation{
			{N: 1, DocumentID: "pump-manual", ChunkID: "pump-manual#3", Shard: "default", Title: "Pump\nmanual", Score: 3.2, Snippet: "Hold the reset button", Cited: true},
			{N: 2, DocumentID: "faq", ChunkID: "faq#1", Shard: "default", Score: 1.1, Snippet: "Resetting"},
		},
		Confidence: 0.82, Mode: "extractive", Route: "local", Node: "edge-1",
		Timings: Timings{RetrieveMS: 2, AnswerMS: 3, TotalMS: 5},
	}
}

const wantSources = "Sources:\n- [1] Pump manual — pump-manual"

// newCompat returns a Handler with only the compatibility routes, so these
// tests do not depend on whether NewHandler registers them.
func newCompat(svc Service) *Handler {
	h := &Handler{svc: svc, log: slog.New(slog.DiscardHandler), mux: http.NewServeMux()}
	RegisterCompat(h)
	return h
}

func do(h http.Handler, method, path, body, contentType string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// decodeSpec decodes b strictly into v, a mirror of a public response
// shape, and checks that the required keys are present.
func decodeSpec(t *testing.T, b []byte, v any, required ...string) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range required {
		if _, ok := keys[k]; !ok {
			t.Errorf("field %q missing from %s", k, b)
		}
	}
}

// Mirrors of the public response shapes, with the extra fields.

type specMeta struct {
	Confidence float64  `json:"confidence"`
	Mode       string   `json:"mode"`
	Route      string   `json:"route"`
	Abstained  bool     `json:"abstained"`
	Degraded   bool     `json:"degraded"`
	Reasons    []string `json:"reasons"`
	Node       string   `json:"node"`
	RequestID  string   `json:"request_id"`
}

type specOllama struct {
	Model     string    `json:"model"`
	CreatedAt time.Time `json:"created_at"`
	Message   struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"message"`
	Done               bool       `json:"done"`
	DoneReason         string     `json:"done_reason"`
	TotalDuration      int64      `json:"total_duration"`
	LoadDuration       int64      `json:"load_duration"`
	PromptEvalCount    int        `json:"prompt_eval_count"`
	PromptEvalDuration int64      `json:"prompt_eval_duration"`
	EvalCount          int        `json:"eval_count"`
	EvalDuration       int64      `json:"eval_duration"`
	Citations          []Citation `json:"citations"`
	EdgeRAG            *specMeta  `json:"edgerag"`
}

type specUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type specCompletion struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage     specUsage  `json:"usage"`
	Citations []Citation `json:"citations"`
	EdgeRAG   *specMeta  `json:"edgerag"`
}

type specChunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage     *specUsage `json:"usage"`
	Citations []Citation `json:"citations"`
	EdgeRAG   *specMeta  `json:"edgerag"`
}

// A request as real clients send it: history, a system prompt and many
// fields the node does not use.
const clientRequest = `{"model":"edgerag:latest","messages":[
	{"role":"system","content":"You are a helpful assistant."},
	{"role":"user","content":"hi"},
	{"role":"assistant","content":"Hello! How can I help?","tool_calls":[]},
	{"role":"user","content":"  how do I reset the pump?  ","images":[]}],
	%s
	"options":{"temperature":0.2,"num_ctx":4096},"keep_alive":"5m","format":"","tools":[],
	"temperature":0.7,"top_p":1,"max_tokens":512,"user":"u1","think":false}`

func clientBody(stream string) string { return strings.Replace(clientRequest, "%s", stream, 1) }

const clientPromptWords = 5 + 1 + 5 + 6 // every message's words

func checkAsked(t *testing.T, f *chatFake) {
	t.Helper()
	got := f.calls()
	if len(got) != 1 || got[0].Question != "how do I reset the pump?" || got[0].K != 5 {
		t.Fatalf("service asked %+v, want the last user message with the default k", got)
	}
}

func TestOllamaChatNonStream(t *testing.T) {
	f := &chatFake{resp: sampleResponse()}
	w := do(newCompat(f), http.MethodPost, "/api/chat", clientBody(`"stream":false,`), "application/json")
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("status %d %q: %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	var r specOllama
	decodeSpec(t, w.Body.Bytes(), &r, "model", "created_at", "message", "done", "done_reason", "citations", "edgerag")
	checkAsked(t, f)
	want := sampleResponse().Answer + "\n\n" + wantSources
	switch {
	case r.Model != "edgerag:latest":
		t.Errorf("model %q not echoed", r.Model)
	case time.Since(r.CreatedAt) > time.Minute:
		t.Errorf("created_at %v", r.CreatedAt)
	case r.Message.Role != "assistant" || r.Message.Content != want:
		t.Errorf("message %+v, want content %q", r.Message, want)
	case !r.Done || r.DoneReason != "stop":
		t.Errorf("done %v %q", r.Done, r.DoneReason)
	case len(r.Citations) != 2 || r.Citations[0].DocumentID != "pump-manual" || !r.Citations[0].Cited:
		t.Errorf("citations %+v", r.Citations)
	case r.EdgeRAG == nil || r.EdgeRAG.Confidence != 0.82 || r.EdgeRAG.Mode != "extractive" || r.EdgeRAG.Route != "local":
		t.Errorf("edgerag %+v", r.EdgeRAG)
	case r.TotalDuration != 5e6 || r.PromptEvalCount != clientPromptWords || r.EvalCount != len(strings.Fields(want)):
		t.Errorf("metrics %d %d %d", r.TotalDuration, r.PromptEvalCount, r.EvalCount)
	}
}

// readNDJSON checks that every line is one JSON object and decodes them.
func readNDJSON(t *testing.T, body string) []specOllama {
	t.Helper()
	if !strings.HasSuffix(body, "\n") {
		t.Fatalf("stream does not end with a newline: %q", body)
	}
	var out []specOllama
	for _, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if !json.Valid([]byte(line)) {
			t.Fatalf("line is not JSON: %q", line)
		}
		var r specOllama
		decodeSpec(t, []byte(line), &r, "model", "created_at", "message", "done")
		out = append(out, r)
	}
	return out
}

func TestOllamaChatStreamsByDefault(t *testing.T) {
	f := &chatFake{resp: sampleResponse(), pieces: []string{"Hold the reset ", "", "button for five seconds [1]."}}
	w := do(newCompat(f), http.MethodPost, "/api/chat", clientBody(""), "")
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("status %d %q: %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	checkAsked(t, f)
	lines := readNDJSON(t, w.Body.String())
	var text strings.Builder
	for i, l := range lines {
		if l.Model != "edgerag:latest" || l.Message.Role != "assistant" {
			t.Errorf("line %d: %+v", i, l)
		}
		if last := i == len(lines)-1; l.Done != last {
			t.Errorf("line %d: done=%v", i, l.Done)
		}
		text.WriteString(l.Message.Content)
	}
	// Two pieces (the empty one is dropped), the sources, the final object.
	if len(lines) != 4 {
		t.Fatalf("%d lines: %s", len(lines), w.Body)
	}
	if want := sampleResponse().Answer + "\n\n" + wantSources; text.String() != want {
		t.Errorf("streamed text %q, want %q", text.String(), want)
	}
	final := lines[len(lines)-1]
	if final.DoneReason != "stop" || final.Message.Content != "" || len(final.Citations) != 2 || final.EdgeRAG == nil || final.EdgeRAG.Route != "local" {
		t.Errorf("final %+v", final)
	}
	if final.EvalCount != len(strings.Fields(text.String())) {
		t.Errorf("eval_count %d", final.EvalCount)
	}
}

func TestOpenAIChatNonStream(t *testing.T) {
	f := &chatFake{resp: sampleResponse()}
	w := do(newCompat(f), http.MethodPost, "/v1/chat/completions", clientBody(""), "application/json")
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("status %d %q: %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	var r specCompletion
	decodeSpec(t, w.Body.Bytes(), &r, "id", "object", "created", "model", "choices", "usage", "citations")
	checkAsked(t, f)
	want := sampleResponse().Answer + "\n\n" + wantSources
	switch {
	case !strings.HasPrefix(r.ID, "chatcmpl-") || r.Object != "chat.completion" || r.Model != "edgerag:latest":
		t.Errorf("id %q object %q model %q", r.ID, r.Object, r.Model)
	case time.Since(time.Unix(r.Created, 0)) > time.Minute:
		t.Errorf("created %d", r.Created)
	case len(r.Choices) != 1 || r.Choices[0].Index != 0 || r.Choices[0].FinishReason != "stop":
		t.Errorf("choices %+v", r.Choices)
	case r.Choices[0].Message.Role != "assistant" || r.Choices[0].Message.Content != want:
		t.Errorf("message %+v, want %q", r.Choices[0].Message, want)
	case r.Usage.PromptTokens != clientPromptWords || r.Usage.CompletionTokens != len(strings.Fields(want)) ||
		r.Usage.TotalTokens != r.Usage.PromptTokens+r.Usage.CompletionTokens:
		t.Errorf("usage %+v", r.Usage)
	case len(r.Citations) != 2 || !r.Citations[0].Cited || r.EdgeRAG == nil || r.EdgeRAG.Confidence != 0.82:
		t.Errorf("citations %+v edgerag %+v", r.Citations, r.EdgeRAG)
	}
}

// readSSE returns the data of every event, checking the framing.
func readSSE(t *testing.T, body string) []string {
	t.Helper()
	if !strings.HasSuffix(body, "\n\n") {
		t.Fatalf("stream does not end with a blank line: %q", body)
	}
	var out []string
	for _, ev := range strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n") {
		data, ok := strings.CutPrefix(ev, "data: ")
		if !ok || strings.Contains(data, "\n") {
			t.Fatalf("event is not one data line: %q", ev)
		}
		out = append(out, data)
	}
	return out
}

func TestOpenAIChatStream(t *testing.T) {
	f := &chatFake{resp: sampleResponse(), pieces: []string{"Hold the reset ", "button for five seconds [1]."}}
	w := do(newCompat(f), http.MethodPost, "/v1/chat/completions", clientBody(`"stream":true,"stream_options":{"include_usage":true},`), "application/json")
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d %q: %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	checkAsked(t, f)
	events := readSSE(t, w.Body.String())
	if events[len(events)-1] != "[DONE]" {
		t.Fatalf("last event %q, want [DONE]", events[len(events)-1])
	}
	var chunks []specChunk
	for _, e := range events[:len(events)-1] {
		var c specChunk
		decodeSpec(t, []byte(e), &c, "id", "object", "created", "model", "choices")
		if c.Object != "chat.completion.chunk" || !strings.HasPrefix(c.ID, "chatcmpl-") || c.Model != "edgerag:latest" {
			t.Fatalf("chunk %s", e)
		}
		if c.ID != events0ID(t, events) {
			t.Errorf("chunk ids differ: %s", e)
		}
		chunks = append(chunks, c)
	}
	// role, two pieces, sources, finish, usage
	if len(chunks) != 6 {
		t.Fatalf("%d chunks: %s", len(chunks), w.Body)
	}
	if d := chunks[0].Choices[0].Delta; d.Role != "assistant" || d.Content != "" {
		t.Errorf("first delta %+v, want the role alone", d)
	}
	var text strings.Builder
	for i, c := range chunks[:4] {
		if len(c.Choices) != 1 || c.Choices[0].FinishReason != nil {
			t.Errorf("chunk %d: %+v", i, c.Choices)
		}
		if i > 0 && c.Choices[0].Delta.Role != "" {
			t.Errorf("chunk %d repeats the role", i)
		}
		text.WriteString(c.Choices[0].Delta.Content)
	}
	if want := sampleResponse().Answer + "\n\n" + wantSources; text.String() != want {
		t.Errorf("streamed %q, want %q", text.String(), want)
	}
	if !strings.Contains(events[1], `"finish_reason":null`) {
		t.Errorf("finish_reason is not null before the end: %s", events[1])
	}
	last := chunks[4]
	if fr := last.Choices[0].FinishReason; fr == nil || *fr != "stop" || len(last.Citations) != 2 || last.EdgeRAG == nil {
		t.Errorf("finishing chunk %s", events[4])
	}
	u := chunks[5]
	if len(u.Choices) != 0 || u.Usage == nil || u.Usage.PromptTokens != clientPromptWords ||
		u.Usage.CompletionTokens != len(strings.Fields(text.String())) {
		t.Errorf("usage chunk %s", events[5])
	}
}

func events0ID(t *testing.T, events []string) string {
	t.Helper()
	var c struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(events[0]), &c); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// TestChatStreamCorrection covers a final answer that is not the text
// streamed (escalation, abstention, a failed model): the replacement is
// appended with a note, as clients cannot take text back.
func TestChatStreamCorrection(t *testing.T) {
	resp := sampleResponse()
	resp.Route = "central"
	f := &chatFake{resp: resp, pieces: []string{"Maybe unplug it [7]."}}
	want := "Maybe unplug it [7].\n\n---\nCorrected answer (it replaces the text above):\n\n" + resp.Answer + "\n\n" + wantSources

	w := do(newCompat(f), http.MethodPost, "/api/chat", `{"messages":[{"role":"user","content":"reset?"}]}`, "")
	var text strings.Builder
	for _, l := range readNDJSON(t, w.Body.String()) {
		text.WriteString(l.Message.Content)
	}
	if text.String() != want {
		t.Errorf("ollama streamed %q, want %q", text.String(), want)
	}

	w = do(newCompat(f), http.MethodPost, "/v1/chat/completions", `{"messages":[{"role":"user","content":"reset?"}],"stream":true}`, "")
	text.Reset()
	events := readSSE(t, w.Body.String())
	for _, e := range events[:len(events)-1] {
		var c specChunk
		decodeSpec(t, []byte(e), &c)
		text.WriteString(c.Choices[0].Delta.Content)
	}
	if text.String() != want {
		t.Errorf("openai streamed %q, want %q", text.String(), want)
	}
}

// TestChatPlainService streams a service without QueryStream: the whole
// answer comes as one piece.
func TestChatPlainService(t *testing.T) {
	h := newCompat(plainService{&chatFake{resp: sampleResponse()}})
	w := do(h, http.MethodPost, "/api/chat", `{"model":"EdgeRAG","messages":[{"role":"user","content":"reset?"}]}`, "")
	lines := readNDJSON(t, w.Body.String())
	if len(lines) != 3 || lines[0].Message.Content != sampleResponse().Answer || lines[1].Message.Content != "\n\n"+wantSources || !lines[2].Done {
		t.Errorf("lines %+v", lines)
	}
}

// TestChatAbstained: an abstention cites nothing, so its text has no
// Sources block, but the citations field still lists what was retrieved.
func TestChatAbstained(t *testing.T) {
	resp := sampleResponse()
	resp.Abstained, resp.Answer = true, "Not in the local index: no passage answers this question well enough."
	h := newCompat(&chatFake{resp: resp})
	w := do(h, http.MethodPost, "/v1/chat/completions", `{"messages":[{"role":"user","content":"weather?"}]}`, "")
	var r specCompletion
	decodeSpec(t, w.Body.Bytes(), &r)
	if r.Choices[0].Message.Content != resp.Answer || len(r.Citations) != 2 || !r.EdgeRAG.Abstained {
		t.Errorf("response %s", w.Body)
	}
	// Nothing retrieved: the citations field is [] rather than missing.
	h = newCompat(&chatFake{resp: QueryResponse{Answer: "a", Mode: "extractive", Route: "local"}})
	w = do(h, http.MethodPost, "/api/chat", `{"messages":[{"role":"user","content":"q"}],"stream":false}`, "")
	if !strings.Contains(w.Body.String(), `"citations":[]`) || strings.Contains(w.Body.String(), "Sources:") {
		t.Errorf("response %s", w.Body)
	}
}

// checkChatError checks a failed request's status and that its body is the
// endpoint's own error shape with a message containing want.
func checkChatError(t *testing.T, w *httptest.ResponseRecorder, path string, status int, want string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("%s: status %d, want %d: %s", path, w.Code, status, w.Body)
	}
	var msg string
	if path == "/api/chat" {
		var e struct {
			Error string `json:"error"`
		}
		decodeSpec(t, w.Body.Bytes(), &e, "error")
		msg = e.Error
	} else {
		var e struct {
			Error struct {
				Message string  `json:"message"`
				Type    string  `json:"type"`
				Param   *string `json:"param"`
				Code    string  `json:"code"`
			} `json:"error"`
		}
		decodeSpec(t, w.Body.Bytes(), &e, "error")
		wantType := "invalid_request_error"
		if status >= 500 {
			wantType = "server_error"
		}
		if e.Error.Type != wantType || e.Error.Code == "" {
			t.Errorf("%s: error %+v, want type %s", path, e.Error, wantType)
		}
		msg = e.Error.Message
	}
	if !strings.Contains(msg, want) {
		t.Errorf("%s: message %q does not say %q", path, msg, want)
	}
}

func TestChatBadRequests(t *testing.T) {
	user := `{"role":"user","content":"q"}`
	for _, c := range []struct {
		name, body, contentType string
		status                  int
		want                    string
	}{
		{"no messages", `{"model":"m"}`, "", 400, `"messages" is missing`},
		{"null messages", `{"messages":null}`, "", 400, `"messages" is missing`},
		{"empty messages", `{"messages":[]}`, "", 400, `"messages" is empty`},
		{"messages not array", `{"messages":"hi"}`, "", 400, `"messages" must be an array of {"role":...,"content":...} objects, got string`},
		{"message not object", `{"messages":["hi"]}`, "", 400, "messages[0] must be an object"},
		{"missing role", `{"messages":[{"content":"q"}]}`, "", 400, "messages[0].role is missing"},
		{"role not string", `{"messages":[{"role":1,"content":"q"}]}`, "", 400, "messages[0].role must be a string, got number"},
		{"unknown role", `{"messages":[` + user + `,{"role":"bot","content":"q"}]}`, "", 400, `messages[1].role "bot" is not one of`},
		{"content number", `{"messages":[{"role":"user","content":5}]}`, "", 400, "messages[0].content must be a string"},
		{"content object", `{"messages":[{"role":"system","content":{}},` + user + `]}`, "", 400, "messages[0].content must be a string"},
		{"part not object", `{"messages":[{"role":"user","content":["q"]}]}`, "", 400, "messages[0].content[0] must be an object"},
		{"part type missing", `{"messages":[{"role":"user","content":[{"text":"q"}]}]}`, "", 400, "messages[0].content[0].type must be a string"},
		{"part text number", `{"messages":[{"role":"user","content":[{"type":"text","text":5}]}]}`, "", 400, "messages[0].content[0].text must be a string, got number"},
		{"last from assistant", `{"messages":[` + user + `,{"role":"assistant","content":"a"}]}`, "", 400, `the last message is from "assistant"`},
		{"last from tool", `{"messages":[` + user + `,{"role":"tool","content":"42"}]}`, "", 400, `the last message is from "tool"`},
		{"blank question", `{"messages":[{"role":"user","content":"  \n"}]}`, "", 400, "the last message has no text"},
		{"null question", `{"messages":[{"role":"user","content":null}]}`, "", 400, "the last message has no text"},
		{"image only", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:"}}]}]}`, "", 400, "the last message has no text"},
		{"question too long", `{"messages":[{"role":"user","content":"` + strings.Repeat("pump ", 401) + `"}]}`, "", 400, "at most 2000 are accepted"},
		{"model not string", `{"model":7,"messages":[` + user + `]}`, "", 400, `"model" must be a string, got number`},
		{"model too long", `{"model":"` + strings.Repeat("m", 300) + `","messages":[` + user + `]}`, "", 400, `"model" is 300 bytes`},
		{"stream not bool", `{"messages":[` + user + `],"stream":"yes"}`, "", 400, `"stream" must be a boolean, got string`},
		{"stream_options not object", `{"messages":[` + user + `],"stream_options":true}`, "", 400, `"stream_options" must be an object`},
		{"include_usage not bool", `{"messages":[` + user + `],"stream_options":{"include_usage":1}}`, "", 400, `"stream_options.include_usage" must be a boolean, got number`},
		{"malformed", `{"messages":[`, "", 400, "malformed JSON"},
		{"trailing data", `{"messages":[` + user + `]} {}`, "", 400, "malformed JSON"},
		{"array body", `[` + user + `]`, "", 400, "must be a JSON object"},
		{"empty body", ``, "", 400, "request body is empty"},
		{"invalid UTF-8", "{\"messages\":[{\"role\":\"user\",\"content\":\"caf\xe9\"}]}", "", 400, "not valid UTF-8"},
		{"oversized", `{"messages":[{"role":"system","content":"` + strings.Repeat("x", MaxChatBody) + `"},` + user + `]}`, "", 413, "larger than 262144 bytes"},
		{"content type", `{"messages":[` + user + `]}`, "application/xml", 415, "send JSON"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, path := range []string{"/api/chat", "/v1/chat/completions"} {
				f := &chatFake{resp: sampleResponse()}
				w := do(newCompat(f), http.MethodPost, path, c.body, c.contentType)
				checkChatError(t, w, path, c.status, c.want)
				if n := len(f.calls()); n != 0 {
					t.Errorf("%s: the service was asked %d times", path, n)
				}
			}
		})
	}
}

// TestChatLenient: what real clients send beyond the spec's minimum is
// accepted: unknown fields everywhere, content parts, null content on an
// assistant turn, the newer and older role names, no model.
func TestChatLenient(t *testing.T) {
	body := `{"messages":[
		{"role":"developer","content":"be brief","name":"x"},
		{"role":"assistant","content":null,"tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"{}"}}]},
		{"role":"function","name":"f","content":"{}"},
		{"role":"user","content":[{"type":"text","text":"how do I"},{"type":"image_url","image_url":{"url":"data:x"}},{"type":"text","text":"reset the pump?"}],"extra":{"a":[1,2]}}],
		"model":null,"stream":null,"stream_options":null,"n":1,"response_format":{"type":"text"},"seed":1,"logit_bias":{}}`
	for _, path := range []string{"/api/chat", "/v1/chat/completions"} {
		f := &chatFake{resp: sampleResponse()}
		w := do(newCompat(f), http.MethodPost, path, body, "application/json; charset=utf-8")
		if w.Code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", path, w.Code, w.Body)
		}
		if got := f.calls(); len(got) != 1 || got[0].Question != "how do I\nreset the pump?" {
			t.Errorf("%s: asked %+v", path, got)
		}
		if !strings.Contains(w.Body.String(), `"model":"edgerag"`) {
			t.Errorf("%s: no default model in %s", path, w.Body)
		}
	}
}

// TestChatServiceErrors: an error before any text keeps its HTTP status,
// streaming or not; one after text is reported in the stream.
func TestChatServiceErrors(t *testing.T) {
	notReady := Errorf(http.StatusServiceUnavailable, CodeNotReady, "the node is still loading its index")
	for _, path := range []string{"/api/chat", "/v1/chat/completions"} {
		for _, stream := range []string{"true", "false"} {
			h := newCompat(&chatFake{err: notReady})
			w := do(h, http.MethodPost, path, `{"messages":[{"role":"user","content":"q"}],"stream":`+stream+`}`, "")
			checkChatError(t, w, path, http.StatusServiceUnavailable, "still loading")
		}
	}

	mid := &chatFake{pieces: []string{"partial "}, err: Errorf(http.StatusBadGateway, CodeInternal, "model crashed")}
	w := do(newCompat(mid), http.MethodPost, "/api/chat", `{"messages":[{"role":"user","content":"q"}]}`, "")
	lines := strings.Split(strings.TrimSuffix(w.Body.String(), "\n"), "\n")
	if w.Code != 200 || len(lines) != 2 || lines[1] != `{"error":"model crashed"}` {
		t.Errorf("ollama mid-stream error: %d %q", w.Code, w.Body)
	}
	w = do(newCompat(mid), http.MethodPost, "/v1/chat/completions", `{"messages":[{"role":"user","content":"q"}],"stream":true}`, "")
	events := readSSE(t, w.Body.String())
	var e struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(events[len(events)-1]), &e); err != nil || e.Error.Message != "model crashed" || e.Error.Type != "server_error" {
		t.Errorf("openai mid-stream error: %q", events)
	}
	if strings.Contains(w.Body.String(), "[DONE]") {
		t.Errorf("a failed stream ended with [DONE]: %q", w.Body)
	}
}

// TestChatStreamCancel: a client that goes away stops the answer.
func TestChatStreamCancel(t *testing.T) {
	for _, c := range []struct{ path, body string }{
		{"/api/chat", `{"messages":[{"role":"user","content":"q"}]}`},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"q"}],"stream":true}`},
	} {
		f := &chatFake{endless: true, done: make(chan error, 1)}
		srv := httptest.NewServer(newCompat(f))
		ctx, cancel := context.WithCancel(context.Background())
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bufio.NewReader(res.Body).ReadString('\n'); err != nil {
			t.Fatalf("%s: first line: %v", c.path, err)
		}
		cancel()
		select {
		case err := <-f.done:
			if err == nil {
				t.Errorf("%s: the stream ran to its end after the client left", c.path)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the stream did not stop after the client left", c.path)
		}
		res.Body.Close()
		srv.Close()
	}
}

func TestCompatModelListings(t *testing.T) {
	h := newCompat(&chatFake{})
	w := do(h, http.MethodGet, "/api/tags", "", "")
	var tags struct {
		Models []struct {
			Name       string    `json:"name"`
			Model      string    `json:"model"`
			ModifiedAt time.Time `json:"modified_at"`
			Size       int64     `json:"size"`
			Digest     string    `json:"digest"`
			Details    struct {
				ParentModel       string   `json:"parent_model"`
				Format            string   `json:"format"`
				Family            string   `json:"family"`
				Families          []string `json:"families"`
				ParameterSize     string   `json:"parameter_size"`
				QuantizationLevel string   `json:"quantization_level"`
			} `json:"details"`
		} `json:"models"`
	}
	decodeSpec(t, w.Body.Bytes(), &tags, "models")
	if len(tags.Models) != 1 || tags.Models[0].Name != "edgerag:latest" || len(tags.Models[0].Digest) != 64 || tags.Models[0].ModifiedAt.IsZero() {
		t.Errorf("/api/tags: %s", w.Body)
	}

	w = do(h, http.MethodGet, "/v1/models", "", "")
	var models struct {
		Object string `json:"object"`
		Data   []struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			Created int64  `json:"created"`
			OwnedBy string `json:"owned_by"`
		} `json:"data"`
	}
	decodeSpec(t, w.Body.Bytes(), &models, "object", "data")
	if models.Object != "list" || len(models.Data) != 1 || models.Data[0].ID != "edgerag" || models.Data[0].Object != "model" || models.Data[0].Created == 0 {
		t.Errorf("/v1/models: %s", w.Body)
	}
	w = do(h, http.MethodGet, "/v1/models/edgerag:latest", "", "")
	if !strings.Contains(w.Body.String(), `"id":"edgerag:latest"`) {
		t.Errorf("/v1/models/edgerag:latest: %s", w.Body)
	}
	w = do(h, http.MethodGet, "/v1/models/gpt-4o", "", "")
	if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), `"code":"model_not_found"`) {
		t.Errorf("/v1/models/gpt-4o: %d %s", w.Code, w.Body)
	}

	w = do(h, http.MethodGet, "/api/version", "", "")
	var v struct {
		Version string `json:"version"`
	}
	decodeSpec(t, w.Body.Bytes(), &v, "version")
	if v.Version != "1.2.3" {
		t.Errorf("/api/version: %s", w.Body)
	}
}
