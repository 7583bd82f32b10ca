package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestOpenAICompletions(t *testing.T) {
	f, h := newLocal()
	w := do(h, http.MethodPost, "/v1/completions", `{"model":"edgerag","prompt":["how do I reset the pump?"],"max_tokens":100,"temperature":0}`, "")
	var c struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Choices []struct {
			Text         string  `json:"text"`
			FinishReason *string `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			TotalTokens int `json:"total_tokens"`
		} `json:"usage"`
		Citations []Citation `json:"citations"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &c); err != nil || w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if !strings.HasPrefix(c.ID, "cmpl-") || c.Object != "text_completion" || len(c.Choices) != 1 || !strings.HasSuffix(c.Choices[0].Text, wantSources) ||
		*c.Choices[0].FinishReason != "stop" || c.Usage.TotalTokens == 0 || len(c.Citations) != 2 {
		t.Errorf("%s", w.Body)
	}
	if got := f.calls(); got[0].Question != "how do I reset the pump?" {
		t.Errorf("asked %+v", got)
	}

	w = do(h, http.MethodPost, "/v1/completions", `{"model":"edgerag","prompt":"how do I reset the pump?","stream":true,"stream_options":{"include_usage":true}}`, "")
	events := readSSE(t, w.Body.String())
	if events[len(events)-1] != "[DONE]" {
		t.Fatalf("last event %q", events[len(events)-1])
	}
	var text strings.Builder
	finished := 0
	for _, e := range events[:len(events)-1] {
		var ch struct {
			Object  string `json:"object"`
			Choices []struct {
				Text         string  `json:"text"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Usage *struct{} `json:"usage"`
		}
		if err := json.Unmarshal([]byte(e), &ch); err != nil || ch.Object != "text_completion" {
			t.Fatalf("event %s", e)
		}
		for _, c := range ch.Choices {
			text.WriteString(c.Text)
			if c.FinishReason != nil {
				finished++
			}
		}
	}
	if finished != 1 || !strings.HasPrefix(text.String(), "Hold the reset button") || !strings.HasSuffix(text.String(), wantSources) {
		t.Errorf("streamed %q, %d finishes", text.String(), finished)
	}
}

// responsesOutput is the text of a Responses API answer, as the official
// clients compute output_text.
func responsesOutput(t *testing.T, b []byte) (status, text string) {
	t.Helper()
	var r struct {
		Object string `json:"object"`
		Status string `json:"status"`
		Output []struct {
			Type    string `json:"type"`
			Role    string `json:"role"`
			Content []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"content"`
		} `json:"output"`
	}
	if err := json.Unmarshal(b, &r); err != nil || r.Object != "response" {
		t.Fatalf("not a response: %s", b)
	}
	for _, o := range r.Output {
		for _, c := range o.Content {
			if o.Type == "message" && c.Type == "output_text" {
				text += c.Text
			}
		}
	}
	return r.Status, text
}

func TestOpenAIResponses(t *testing.T) {
	f, h := newLocal()
	w := do(h, http.MethodPost, "/v1/responses", `{"model":"edgerag","input":"how do I reset the pump?","instructions":"be brief","store":false}`, "")
	if status, text := responsesOutput(t, w.Body.Bytes()); w.Code != 200 || status != "completed" || !strings.HasSuffix(text, wantSources) {
		t.Errorf("%d %s", w.Code, w.Body)
	}
	// A conversation in "input", its follow-up asked with the question
	// before it.
	w = do(h, http.MethodPost, "/v1/responses", `{"model":"edgerag","input":[
		{"role":"user","content":"how do I reset the pump?"},
		{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Hold reset."}]},
		{"role":"user","content":[{"type":"input_text","text":"and the filter?"}]}]}`, "")
	if got := f.calls(); w.Code != 200 || got[len(got)-1].Question != "how do I reset the pump?\nand the filter?" {
		t.Errorf("%d %s: asked %+v", w.Code, w.Body, got)
	}

	w = do(h, http.MethodPost, "/v1/responses", `{"model":"edgerag","input":"how do I reset the pump?","stream":true}`, "")
	if w.Header().Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var types []string
	var deltas strings.Builder
	for i, ev := range strings.Split(strings.TrimSuffix(w.Body.String(), "\n\n"), "\n\n") {
		name, data, ok := strings.Cut(strings.TrimPrefix(ev, "event: "), "\ndata: ")
		var d struct {
			Type     string          `json:"type"`
			Seq      int             `json:"sequence_number"`
			Delta    string          `json:"delta"`
			Response json.RawMessage `json:"response"`
		}
		if !ok || json.Unmarshal([]byte(data), &d) != nil || d.Type != name || d.Seq != i {
			t.Fatalf("event %d: %q", i, ev)
		}
		types = append(types, name)
		deltas.WriteString(d.Delta)
		if name == "response.completed" {
			if status, text := responsesOutput(t, d.Response); status != "completed" || text != deltas.String() {
				t.Errorf("completed %q, streamed %q", text, deltas.String())
			}
		}
	}
	want := "response.created response.in_progress response.output_item.added response.content_part.added " +
		"response.output_text.delta response.output_text.delta response.output_text.delta " +
		"response.output_text.done response.content_part.done response.output_item.done response.completed"
	if strings.Join(types, " ") != want {
		t.Errorf("events %v", types)
	}

	// An error before any text keeps its status; one after is an error
	// event that the official clients raise.
	f.err = Errorf(http.StatusServiceUnavailable, CodeNotReady, "loading")
	f.pieces = nil
	w = do(h, http.MethodPost, "/v1/responses", `{"input":"reset the pump?","stream":true}`, "")
	if w.Code != 503 || !strings.Contains(w.Body.String(), `"message":"loading"`) {
		t.Errorf("%d %s", w.Code, w.Body)
	}
	f.err, f.pieces = errors.New("model died"), []string{"Hold"}
	w = do(h, http.MethodPost, "/v1/responses", `{"input":"reset the pump?","stream":true}`, "")
	if body := w.Body.String(); !strings.Contains(body, "event: error\ndata: ") || !strings.Contains(body, `"error":{"message":"internal error: model died"`) || strings.Contains(body, "response.completed") {
		t.Errorf("%s", body)
	}
}

// TestMuxErrorsJSON: unknown paths and wrong methods answer JSON in the
// shape of the path's API, 405 with the methods allowed.
func TestMuxErrorsJSON(t *testing.T) {
	h := NewHandler(&chatFake{resp: sampleResponse()}, nil)
	for _, c := range []struct {
		method, path string
		status       int
		shape        string // ollama, openai or node
		allow        string
	}{
		{"GET", "/api/nope", 404, "ollama", ""},
		{"GET", "/api/chat", 405, "ollama", "POST"},
		{"DELETE", "/api/tags", 405, "ollama", "GET, HEAD"},
		{"GET", "/v1/chat/completions", 405, "openai", "POST"},
		{"POST", "/v1/models", 405, "openai", "GET, HEAD"},
		{"GET", "/v1/responses/resp_1", 404, "openai", ""},
		{"GET", "/v1/audio/speech", 404, "node", ""},
		{"GET", "/v1/query", 405, "node", "POST"},
		{"GET", "/nothing", 404, "node", ""},
	} {
		w := do(h, c.method, c.path, "", "")
		m := decodeMap(t, w.Body.Bytes())
		ok := w.Code == c.status && w.Header().Get("Content-Type") == "application/json" && w.Header().Get("Allow") == c.allow
		switch c.shape {
		case "ollama":
			msg, _ := m["error"].(string)
			ok = ok && strings.Contains(msg, c.path)
		case "openai":
			e, _ := m["error"].(map[string]any)
			ok = ok && e["type"] == "invalid_request_error" && e["code"] != nil && strings.Contains(e["message"].(string), c.path)
		default:
			e, _ := m["error"].(map[string]any)
			ok = ok && e["code"] != nil && e["type"] == nil && strings.Contains(e["message"].(string), c.path)
		}
		if !ok {
			t.Errorf("%s %s: %d Allow %q %s", c.method, c.path, w.Code, w.Header().Get("Allow"), w.Body)
		}
	}
	// A route registered later (the status page at /) still answers.
	h.Handle("GET /{$}", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("page")) }))
	if w := do(h, "HEAD", "/", "", ""); w.Code != 200 {
		t.Errorf("HEAD / (the Ollama CLI's heartbeat): %d", w.Code)
	}
}
