package api

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

// localFake is a chatFake on a node that uses an Ollama server: a
// generation model, and an embedding model it embeds with (or, with noEmbed,
// no Embed method's model: it answers ErrNoEmbedder).
type localFake struct {
	*chatFake
	noEmbed bool
	texts   [][]string
}

func (f *localFake) Status(context.Context) (Status, error) {
	st := Status{Node: "edge-1", Version: "1.2.3", Retrieval: "hybrid", Answerer: "ollama/tiny-gen:latest@0123456789abcdef (down: answering extractively)", Documents: 3}
	if !f.noEmbed {
		st.Embedding = &EmbeddingStatus{Model: "ollama/tiny-embed:v2@fedcba987654", Dims: 3}
	}
	return st, nil
}

func (f *localFake) Embed(_ context.Context, texts []string) (string, [][]float32, error) {
	if f.noEmbed {
		return "", nil, ErrNoEmbedder()
	}
	f.texts = append(f.texts, texts)
	out := make([][]float32, len(texts))
	for i := range texts {
		out[i] = []float32{3, 4, float32(i)}
	}
	return "ollama/tiny-embed:v2@fedcba987654", out, nil
}

func newLocal() (*localFake, *Handler) {
	f := &localFake{chatFake: &chatFake{resp: sampleResponse(), pieces: []string{"Hold the reset ", "button for five seconds [1]."}}}
	return f, newCompat(f)
}

func decodeMap(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %q", b)
	}
	return m
}

func TestOllamaShow(t *testing.T) {
	_, h := newLocal()
	for _, c := range []struct {
		body, capability string
		status           int
		want             string
	}{
		{`{"model":"edgerag"}`, "completion", 200, "generation model: tiny-gen:latest"},
		{`{"name":"edgerag:latest","verbose":true}`, "completion", 200, "embedding model: tiny-embed:v2"},
		// What Ollama 0.24's CLI sends.
		{`{"model":"","system":"","template":"","verbose":false,"options":null,"name":"edgerag"}`, "completion", 200, "FROM edgerag"},
		{`{"model":"tiny-gen"}`, "completion", 200, "the generation model edgerag uses"},
		{`{"model":"tiny-embed:v2"}`, "embedding", 200, "the embedding model edgerag uses"},
		{`{"model":"llama3"}`, "", 404, `model 'llama3' not found`},
		{`{}`, "", 400, `\"model\" is missing`},
		{`{"model":5}`, "", 400, `\"model\" must be a string`},
	} {
		w := do(h, http.MethodPost, "/api/show", c.body, "")
		if w.Code != c.status || !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("%s: %d %s, want %d with %q", c.body, w.Code, w.Body, c.status, c.want)
			continue
		}
		m := decodeMap(t, w.Body.Bytes())
		if c.status != 200 {
			if _, ok := m["error"].(string); !ok {
				t.Errorf("%s: error not in Ollama's shape: %s", c.body, w.Body)
			}
			continue
		}
		caps, _ := m["capabilities"].([]any)
		if len(caps) != 1 || caps[0] != c.capability {
			t.Errorf("%s: capabilities %v, want [%s]", c.body, caps, c.capability)
		}
	}
	w := do(h, http.MethodPost, "/api/show", `{"model":"edgerag"}`, "")
	info := decodeMap(t, w.Body.Bytes())["model_info"].(map[string]any)
	if info["general.architecture"] != "edgerag" || info["edgerag.embedding_model"] != "tiny-embed:v2" || info["edgerag.retrieval"] != "hybrid" {
		t.Errorf("model_info %v", info)
	}
}

func TestOllamaPS(t *testing.T) {
	_, h := newLocal()
	w := do(h, http.MethodGet, "/api/ps", "", "")
	var ps struct {
		Models []struct {
			Name      string    `json:"name"`
			Digest    string    `json:"digest"`
			ExpiresAt time.Time `json:"expires_at"`
		} `json:"models"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &ps); err != nil || w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var names []string
	for _, m := range ps.Models {
		names = append(names, m.Name)
		// The Ollama CLI cuts the digest to 12 characters and shows a
		// time more than 20 years ahead as "Forever".
		if len(m.Digest) < 12 || time.Until(m.ExpiresAt) < 21*365*24*time.Hour {
			t.Errorf("%+v", m)
		}
	}
	if strings.Join(names, ",") != "edgerag:latest,tiny-gen:latest,tiny-embed:v2" {
		t.Errorf("models %v", names)
	}
}

func TestOllamaGenerate(t *testing.T) {
	f, h := newLocal()
	w := do(h, http.MethodPost, "/api/generate", `{"model":"edgerag","prompt":" how do I reset the pump? ","stream":false,"system":"be brief","options":{}}`, "")
	m := decodeMap(t, w.Body.Bytes())
	if w.Code != 200 || m["done"] != true || m["done_reason"] != "stop" || !strings.HasSuffix(m["response"].(string), wantSources) || m["message"] != nil {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if got := f.calls(); got[0].Question != "how do I reset the pump?" {
		t.Errorf("asked %+v", got)
	}

	// Streamed (the default), as `ollama run edgerag "question"` asks.
	w = do(h, http.MethodPost, "/api/generate", `{"model":"edgerag:latest","prompt":"how do I reset the pump?","context":[]}`, "")
	if w.Header().Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var text strings.Builder
	lines := strings.Split(strings.TrimSpace(w.Body.String()), "\n")
	for i, l := range lines {
		m := decodeMap(t, []byte(l))
		text.WriteString(m["response"].(string))
		if m["done"] != (i == len(lines)-1) {
			t.Errorf("line %d: %s", i, l)
		}
	}
	if !strings.HasPrefix(text.String(), "Hold the reset button") || !strings.HasSuffix(text.String(), wantSources) {
		t.Errorf("streamed %q", text.String())
	}

	// An empty prompt is the CLI loading the model before a chat.
	w = do(h, http.MethodPost, "/api/generate", `{"model":"edgerag"}`, "")
	if m := decodeMap(t, w.Body.Bytes()); w.Code != 200 || m["done_reason"] != "load" || m["response"] != "" {
		t.Errorf("load: %d %s", w.Code, w.Body)
	}
	w = do(h, http.MethodPost, "/api/generate", `{"model":"llama3"}`, "")
	if w.Code != 404 || decodeMap(t, w.Body.Bytes())["error"] != `model 'llama3' not found: this node answers as the model "edgerag"` {
		t.Errorf("load of an unknown model: %d %s", w.Code, w.Body)
	}
}

// TestCompatUnknownModel: every answering endpoint refuses a model it does
// not serve with 404 in its API's shape, and the node's local generation
// model with 400 saying what to ask instead.
func TestCompatUnknownModel(t *testing.T) {
	_, h := newLocal()
	for _, c := range []struct{ path, body string }{
		{"/api/chat", `{"model":"%s","messages":[{"role":"user","content":"reset the pump?"}]}`},
		{"/api/generate", `{"model":"%s","prompt":"reset the pump?"}`},
		{"/v1/chat/completions", `{"model":"%s","messages":[{"role":"user","content":"reset the pump?"}]}`},
		{"/v1/completions", `{"model":"%s","prompt":"reset the pump?"}`},
		{"/v1/responses", `{"model":"%s","input":"reset the pump?"}`},
	} {
		for model, status := range map[string]int{"gpt-4o": 404, "tiny-gen": 400} {
			w := do(h, http.MethodPost, c.path, strings.Replace(c.body, "%s", model, 1), "")
			m := decodeMap(t, w.Body.Bytes())
			var msg string
			if strings.HasPrefix(c.path, "/api/") {
				msg, _ = m["error"].(string)
			} else if e, ok := m["error"].(map[string]any); ok {
				msg, _ = e["message"].(string)
				if status == 404 && (e["code"] != "model_not_found" || e["param"] != "model" || e["type"] != "invalid_request_error") {
					t.Errorf("%s %s: %s", c.path, model, w.Body)
				}
			}
			if w.Code != status || !strings.Contains(msg, model) || !strings.Contains(msg, `"edgerag"`) {
				t.Errorf("%s %s: %d %s", c.path, model, w.Code, w.Body)
			}
		}
	}
}

// TestCompatRefusals: options that would change what the client gets are
// refused with 400 naming the option, never ignored.
func TestCompatRefusals(t *testing.T) {
	_, h := newLocal()
	const msgs = `"messages":[{"role":"user","content":"reset the pump?"}]`
	for _, c := range []struct{ path, body, want string }{
		{"/v1/chat/completions", `{` + msgs + `,"tools":[{"type":"function","function":{"name":"f"}}]}`, `"tools"`},
		{"/v1/chat/completions", `{` + msgs + `,"functions":[{"name":"f"}]}`, `"tools"`},
		{"/v1/chat/completions", `{` + msgs + `,"response_format":{"type":"json_object"}}`, `"response_format" {"type":"json_object"}`},
		{"/v1/chat/completions", `{` + msgs + `,"response_format":{"type":"json_schema","json_schema":{}}}`, `"response_format"`},
		{"/v1/chat/completions", `{` + msgs + `,"n":2}`, `"n" = 2`},
		{"/v1/chat/completions", `{` + msgs + `,"logprobs":true}`, `"logprobs"`},
		{"/v1/completions", `{"prompt":"q","suffix":"x"}`, `"suffix"`},
		{"/v1/completions", `{"prompt":"q","echo":true}`, `"echo"`},
		{"/v1/completions", `{"prompt":"q","best_of":3}`, `"best_of" = 3`},
		{"/v1/completions", `{"prompt":["a","b"]}`, `one string`},
		{"/v1/responses", `{"input":"q","previous_response_id":"resp_1"}`, `"previous_response_id"`},
		{"/v1/responses", `{"input":"q","text":{"format":{"type":"json_object"}}}`, `"text"`},
		{"/v1/responses", `{"input":"q","tools":[{"type":"web_search"}]}`, `"tools"`},
		{"/v1/responses", `{"input":[{"type":"function_call_output","call_id":"1","output":"x"}]}`, `type "function_call_output"`},
		{"/api/chat", `{` + msgs + `,"tools":[{"type":"function"}]}`, `"tools"`},
		{"/api/chat", `{` + msgs + `,"format":"json"}`, `"format" "json"`},
		{"/api/chat", `{` + msgs + `,"think":true}`, `"think"`},
		{"/api/generate", `{"prompt":"q","format":{"type":"object"}}`, `"format"`},
		{"/api/generate", `{"prompt":"q","images":["aGk="]}`, `"images"`},
		{"/api/chat", `{"messages":[{"role":"user","content":"what is this?","images":["aGk="]}]}`, `messages[0].images`},
	} {
		w := do(h, http.MethodPost, c.path, c.body, "")
		if w.Code != 400 || !strings.Contains(w.Body.String(), strings.ReplaceAll(c.want, `"`, `\"`)) {
			t.Errorf("%s %s: %d %s, want 400 with %s", c.path, c.body, w.Code, w.Body, c.want)
		}
	}
	// What clients send by default passes: empty tools, text formats, n 1.
	for _, c := range []struct{ path, body string }{
		{"/v1/chat/completions", `{` + msgs + `,"tools":[],"response_format":{"type":"text"},"n":1,"logprobs":false}`},
		{"/v1/responses", `{"input":"reset the pump?","text":{"format":{"type":"text"}},"tools":[],"store":false}`},
		{"/api/chat", `{` + msgs + `,"format":"","think":false,"tools":null,"stream":false}`},
	} {
		if w := do(h, http.MethodPost, c.path, c.body, ""); w.Code != 200 {
			t.Errorf("%s %s: %d %s", c.path, c.body, w.Code, w.Body)
		}
	}
}

func TestFollowUpQuestion(t *testing.T) {
	u := func(s string) chatMessage { return chatMessage{Role: "user", Content: s} }
	a := func(s string) chatMessage { return chatMessage{Role: "assistant", Content: s} }
	long := strings.Repeat("word ", MaxQuestion/5)
	for _, c := range []struct {
		name string
		msgs []chatMessage
		want string
	}{
		{"alone", []chatMessage{u("and the filter?")}, "and the filter?"},
		{"short follow-up", []chatMessage{u("how do I reset the pump?"), a("Hold reset [1]."), u("and the filter?")}, "how do I reset the pump?\nand the filter?"},
		{"full question", []chatMessage{u("how do I reset the pump?"), a("x"), u("what oil does the press use?")}, "what oil does the press use?"},
		{"skips assistant and empty turns", []chatMessage{u("pump reset"), u("  "), a("x"), u("why?")}, "pump reset\nwhy?"},
		{"system is not a turn", []chatMessage{{Role: "system", Content: "be brief"}, u("why?")}, "why?"},
		{"too long together", []chatMessage{u(long), u("why?")}, "why?"},
	} {
		last := c.msgs[len(c.msgs)-1].Content
		if got := followUpQuestion(c.msgs, last); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestCompatEmbed(t *testing.T) {
	f, h := newLocal()
	w := do(h, http.MethodPost, "/api/embed", `{"model":"edgerag","input":["a b","c"]}`, "")
	var oe struct {
		Model      string      `json:"model"`
		Embeddings [][]float32 `json:"embeddings"`
	}
	if json.Unmarshal(w.Body.Bytes(), &oe); w.Code != 200 || oe.Model != "edgerag" || len(oe.Embeddings) != 2 || oe.Embeddings[1][2] != 1 {
		t.Errorf("/api/embed: %d %s", w.Code, w.Body)
	}
	w = do(h, http.MethodPost, "/api/embed", `{"model":"tiny-embed:v2","input":"a","dimensions":2}`, "")
	if json.Unmarshal(w.Body.Bytes(), &oe); w.Code != 200 || len(oe.Embeddings) != 1 || oe.Embeddings[0][0] != 0.6 || oe.Embeddings[0][1] != 0.8 || len(oe.Embeddings[0]) != 2 {
		t.Errorf("/api/embed dimensions 2: %d %s", w.Code, w.Body)
	}
	w = do(h, http.MethodPost, "/api/embeddings", `{"model":"edgerag","prompt":"a"}`, "")
	if m := decodeMap(t, w.Body.Bytes()); w.Code != 200 || len(m["embedding"].([]any)) != 3 {
		t.Errorf("/api/embeddings: %d %s", w.Code, w.Body)
	}
	w = do(h, http.MethodPost, "/v1/embeddings", `{"model":"edgerag","input":"a","encoding_format":"float"}`, "")
	var oa struct {
		Object string `json:"object"`
		Data   []struct {
			Object    string          `json:"object"`
			Index     int             `json:"index"`
			Embedding json.RawMessage `json:"embedding"`
		} `json:"data"`
	}
	if json.Unmarshal(w.Body.Bytes(), &oa); w.Code != 200 || oa.Object != "list" || len(oa.Data) != 1 || string(oa.Data[0].Embedding) != "[3,4,0]" {
		t.Errorf("/v1/embeddings float: %d %s", w.Code, w.Body)
	}
	// The official clients ask for base64 unless told otherwise.
	w = do(h, http.MethodPost, "/v1/embeddings", `{"model":"edgerag","input":["a","b"],"encoding_format":"base64"}`, "")
	if json.Unmarshal(w.Body.Bytes(), &oa); w.Code != 200 || len(oa.Data) != 2 {
		t.Fatalf("/v1/embeddings base64: %d %s", w.Code, w.Body)
	}
	var s string
	_ = json.Unmarshal(oa.Data[1].Embedding, &s)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 12 || math.Float32frombits(binary.LittleEndian.Uint32(b[4:])) != 4 || math.Float32frombits(binary.LittleEndian.Uint32(b[8:])) != 1 {
		t.Errorf("base64 %q: %v", s, err)
	}
	if len(f.texts) != 5 {
		t.Errorf("embedder called %d times", len(f.texts))
	}

	for _, c := range []struct {
		path, body string
		status     int
		want       string
	}{
		{"/api/embed", `{"model":"gpt-4o","input":"a"}`, 404, `model 'gpt-4o' not found`},
		{"/v1/embeddings", `{"model":"text-embedding-3-small","input":"a"}`, 404, `model_not_found`},
		{"/api/embed", `{"model":"tiny-gen","input":"a"}`, 400, `does not embed`},
		{"/api/embed", `{"model":"edgerag"}`, 400, `\"input\" is missing`},
		{"/api/embed", `{"model":"edgerag","input":[]}`, 400, `is empty`},
		{"/v1/embeddings", `{"model":"edgerag","input":[[1,2]]}`, 400, `token arrays`},
		{"/v1/embeddings", `{"model":"edgerag","input":"a","dimensions":9}`, 400, `have 3`},
		{"/v1/embeddings", `{"model":"edgerag","input":"a","encoding_format":"int8"}`, 400, `encoding_format`},
		{"/api/embeddings", `{"model":"edgerag","prompt":["a","b"]}`, 400, `one string`},
	} {
		w := do(h, http.MethodPost, c.path, c.body, "")
		if w.Code != c.status || !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("%s %s: %d %s", c.path, c.body, w.Code, w.Body)
		}
	}

	// A node without an embedding model says so, in JSON.
	f.noEmbed = true
	for _, path := range []string{"/api/embed", "/v1/embeddings"} {
		w := do(h, http.MethodPost, path, `{"model":"edgerag","input":"a"}`, "")
		if w.Code != 400 || !strings.Contains(w.Body.String(), "--embed-model") {
			t.Errorf("%s without embedder: %d %s", path, w.Code, w.Body)
		}
	}
	w = do(newCompat(f.chatFake), http.MethodPost, "/api/embed", `{"model":"edgerag","input":"a"}`, "")
	if w.Code != 400 || !strings.Contains(decodeMap(t, w.Body.Bytes())["error"].(string), "no embedding model") {
		t.Errorf("service without Embed: %d %s", w.Code, w.Body)
	}
}

// TestOllamaPull: `ollama run MODEL` pulls a model /api/show does not know;
// the node has the RAG model and pulls nothing else, and says so.
func TestOllamaPull(t *testing.T) {
	_, h := newLocal()
	if w := do(h, http.MethodPost, "/api/pull", `{"model":"edgerag"}`, ""); w.Code != 200 || !strings.Contains(w.Body.String(), `"status":"success"`) {
		t.Errorf("pull edgerag: %d %s", w.Code, w.Body)
	}
	w := do(h, http.MethodPost, "/api/pull", `{"name":"llama3","stream":true}`, "")
	if msg, _ := decodeMap(t, w.Body.Bytes())["error"].(string); w.Code != 404 || !strings.Contains(msg, "model 'llama3' not found") || !strings.Contains(msg, "does not pull") {
		t.Errorf("pull llama3: %d %s", w.Code, w.Body)
	}
}
