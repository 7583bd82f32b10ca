package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgerag/edgerag/models"
)

// These unit tests check this client's reading of the protocol against
// canned server answers; integration_test.go checks it against a real
// server.

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "openai://127.0.0.1:8000/v1", want: "http://127.0.0.1:8000/v1"},
		{in: "openai://gpu-box:8000/v1/", want: "http://gpu-box:8000/v1"},
		{in: "openai+https://api.example.com/v1", want: "https://api.example.com/v1"},
		{in: "https://api.example.com/openai/v1", want: "https://api.example.com/openai/v1"},
		{in: "http://[::1]:11434/v1", want: "http://[::1]:11434/v1"},
		{in: "", err: "empty"},
		{in: "ollama://127.0.0.1:11434", err: "scheme"},
		{in: "openai:///v1", err: "no host"},
		{in: "openai://user:secret@host/v1", err: EnvKeyHint},
		{in: "openai://host/v1?key=x", err: "query"},
	} {
		u, err := ParseURL(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseURL(%q) error %v, want one saying %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || u.String() != tc.want {
			t.Errorf("ParseURL(%q) = %v, %v; want %s", tc.in, u, err, tc.want)
		}
	}
}

// EnvKeyHint is what a message about a key in the wrong place points to.
const EnvKeyHint = KeyEnv

func TestNewRefusesBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{URL: "openai://h/v1"},
		{URL: "openai://h/v1", Model: "m", Temperature: -1},
		{URL: "openai://h/v1", Model: "m", TopLogprobs: 21},
		{URL: "openai://h/v1", Model: "m", APIKey: "k\nInjected: 1"},
		{URL: "ftp://h/v1", Model: "m"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted it", cfg)
		}
	}
}

var passages = []models.Passage{
	{N: 1, Title: "Pump", Text: "The pump moves 5 litres per minute."},
	{N: 2, Title: "Battery", Text: "The battery lasts 8 hours."},
}

// sse writes events the way OpenAI-compatible servers stream them.
func sse(w http.ResponseWriter, events ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	for _, e := range events {
		fmt.Fprintf(w, "data: %s\n\n", e)
		w.(http.Flusher).Flush()
	}
}

func chunkJSON(content string, lps []logprob, finish string) string {
	c := map[string]any{"index": 0, "delta": map[string]any{"content": content}}
	if lps != nil {
		c["logprobs"] = map[string]any{"content": lps}
	}
	if finish != "" {
		c["finish_reason"] = finish
	} else {
		c["finish_reason"] = nil
	}
	b, _ := json.Marshal(map[string]any{"object": "chat.completion.chunk", "choices": []any{c}})
	return string(b)
}

func lp(tok string, p float64, alts ...any) logprob {
	l := logprob{Token: tok, Logprob: p}
	for i := 0; i+1 < len(alts); i += 2 {
		l.TopLogprobs = append(l.TopLogprobs, struct {
			Token   string  `json:"token"`
			Logprob float64 `json:"logprob"`
		}{alts[i].(string), alts[i+1].(float64)})
	}
	return l
}

func newTestClient(t *testing.T, h http.HandlerFunc, mod func(*Config)) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg := Config{URL: strings.Replace(srv.URL, "http://", "openai://", 1) + "/v1", Model: "tiny", Timeout: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGenerateStreamWithLogprobs(t *testing.T) {
	var got chatRequest
	var auth string
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" {
			http.NotFound(w, r)
			return
		}
		auth = r.Header.Get("Authorization")
		_ = json.NewDecoder(r.Body).Decode(&got)
		sse(w,
			`{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`,
			chunkJSON("The pump", []logprob{lp("The", -0.1, "The", -0.1, "A", -2.5), lp(" pump", -0.2, " pump", -0.2, " tank", -3.0)}, ""),
			chunkJSON(" [1] [7].", []logprob{lp(" [1]", -0.05), lp(" [7]", -4.0), lp(".", -0.01)}, ""),
			chunkJSON("", nil, "stop"),
			`{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5}}`,
			"[DONE]")
	}, func(c *Config) { c.APIKey = "sk-test" })

	var streamed []string
	ans, toks, err := c.Generate(context.Background(), models.GenerateRequest{Question: "pump rate?", Passages: passages}, func(tk models.Token) error {
		streamed = append(streamed, tk.Text)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if auth != "Bearer sk-test" {
		t.Errorf("Authorization %q", auth)
	}
	if !got.Stream || !got.Logprobs || got.TopLogprobs != DefaultTopLogprobs || got.Temperature == nil || *got.Temperature != 0 || got.MaxTokens != DefaultMaxTokens {
		t.Errorf("request %+v: want stream, logprobs, top %d, temperature 0, max tokens %d", got, DefaultTopLogprobs, DefaultMaxTokens)
	}
	if len(got.Messages) != 2 || got.Messages[0].Role != "system" || !strings.Contains(got.Messages[1].Content, "<<<PASSAGE 1>>>") {
		t.Errorf("messages %+v: want the shared system prompt and passages", got.Messages)
	}
	if ans.Text != "The pump [1]." || ans.InvalidCitations != 1 || len(ans.Cited) != 1 || ans.Cited[0] != 1 {
		t.Errorf("answer %+v: want the invalid [7] removed and [1] cited", ans)
	}
	if len(toks) != 5 || !toks[0].HasLogprob || strings.Join(streamed, "") != "The pump [1] [7]." {
		t.Errorf("tokens %+v streamed %q", toks, streamed)
	}
	for _, s := range []string{"token_prob_mean", "top_margin", "citations_valid", "complete"} {
		if _, ok := ans.Signals[s]; !ok {
			t.Errorf("signal %s missing: %v", s, ans.Signals)
		}
	}
	if ans.Signals["complete"] != 1 {
		t.Errorf("complete = %v, want 1 after finish_reason stop", ans.Signals["complete"])
	}
}

func TestGenerateWithoutLogprobs(t *testing.T) {
	var calls atomic.Int32
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var req chatRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		if req.Logprobs {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"message":"logprobs is not supported","type":"invalid_request_error"}}`)
			return
		}
		sse(w, chunkJSON("Eight hours [2]", nil, ""), chunkJSON("", nil, "length"), "[DONE]")
	}, nil)
	for i := range 2 {
		ans, toks, err := c.Generate(context.Background(), models.GenerateRequest{Question: "battery?", Passages: passages}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ans.Text != "Eight hours [2]" || len(toks) != 1 || toks[0].HasLogprob {
			t.Errorf("answer %q tokens %+v", ans.Text, toks)
		}
		if _, ok := ans.Signals["token_prob_mean"]; ok || ans.Signals["complete"] != 0 {
			t.Errorf("signals %v: no token signal without logprobs; finish 'length' is not complete", ans.Signals)
		}
		if want := int32(2 + i); calls.Load() != want {
			t.Errorf("after answer %d the server saw %d requests, want %d (one refused, then no logprobs asked)", i+1, calls.Load(), want)
		}
	}
}

func TestGenerateWholeCompletion(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		io.WriteString(w, `{"choices":[{"index":0,"message":{"role":"assistant","content":"5 litres [1]."},"logprobs":{"content":[{"token":"5","logprob":-0.3,"top_logprobs":[]}]},"finish_reason":"stop"}]}`)
	}, nil)
	ans, toks, err := c.Generate(context.Background(), models.GenerateRequest{Question: "rate?", Passages: passages}, nil)
	if err != nil || ans.Text != "5 litres [1]." || len(toks) != 1 {
		t.Fatalf("answer %+v tokens %+v err %v", ans, toks, err)
	}
}

func TestGenerateFailuresAreUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    http.HandlerFunc
		want string
	}{
		{"key refused", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"message":"Incorrect API key provided"}}`)
		}, KeyEnv},
		{"server error", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "CUDA out of memory", http.StatusInternalServerError)
		}, "CUDA out of memory"},
		{"model missing", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":{"message":"model \"tiny\" not found"}}`)
		}, "--llm-model"},
		{"cut mid-stream", func(w http.ResponseWriter, r *http.Request) {
			sse(w, chunkJSON("The pump", nil, ""))
		}, "without a finish reason"},
		{"error event", func(w http.ResponseWriter, r *http.Request) {
			sse(w, chunkJSON("The", nil, ""), `{"error":{"message":"engine died"}}`)
		}, "engine died"},
		{"not json", func(w http.ResponseWriter, r *http.Request) {
			sse(w, "<html>")
		}, "undecodable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient(t, tc.h, nil)
			_, _, err := c.Generate(context.Background(), models.GenerateRequest{Question: "q", Passages: passages}, nil)
			if !errors.Is(err, models.ErrUnavailable) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v: want models.ErrUnavailable saying %q", err, tc.want)
			}
		})
	}
}

func TestGenerateServerDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := "openai://" + strings.TrimPrefix(srv.URL, "http://") + "/v1"
	srv.Close()
	c, err := New(Config{URL: url, Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Generate(context.Background(), models.GenerateRequest{Question: "q", Passages: passages}, nil)
	if !errors.Is(err, models.ErrUnavailable) || !strings.Contains(err.Error(), "cannot reach") {
		t.Errorf("error %v: want ErrUnavailable saying the server cannot be reached", err)
	}
}

func TestGenerateCallerStopsAndCancels(t *testing.T) {
	release := make(chan struct{})
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		sse(w, chunkJSON("one", nil, ""), chunkJSON(" two", nil, ""))
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}, nil)
	defer close(release)
	stop := errors.New("reader left")
	_, _, err := c.Generate(context.Background(), models.GenerateRequest{Question: "q", Passages: passages}, func(models.Token) error { return stop })
	if !errors.Is(err, stop) || errors.Is(err, models.ErrUnavailable) {
		t.Errorf("error %v: want the callback's own error, not ErrUnavailable", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, _, err = c.Generate(ctx, models.GenerateRequest{Question: "q", Passages: passages}, nil)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, models.ErrUnavailable) {
		t.Errorf("error %v: want the caller's deadline as it is", err)
	}
}

func TestNoPassagesAbstainsWithoutAsking(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		t.Error("the server was asked")
	}, nil)
	ans, _, err := c.Generate(context.Background(), models.GenerateRequest{Question: "q"}, nil)
	if err != nil || !ans.Abstained {
		t.Errorf("answer %+v err %v", ans, err)
	}
}

func TestCheck(t *testing.T) {
	list := `{"object":"list","data":[{"id":"qwen2.5:0.5b","object":"model"},{"id":"Llama-3-8B"}]}`
	h := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/models" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, list)
	}
	for _, tc := range []struct {
		model string
		ok    bool
	}{{"qwen2.5:0.5b", true}, {"llama-3-8b", true}, {"Llama-3-8B:latest", true}, {"gpt-4o", false}} {
		c := newTestClient(t, h, func(c *Config) { c.Model = tc.model })
		err := c.Check(context.Background())
		if (err == nil) != tc.ok {
			t.Errorf("Check with model %q: %v", tc.model, err)
		}
		if err != nil && (!errors.Is(err, models.ErrUnavailable) || !strings.Contains(err.Error(), "qwen2.5:0.5b")) {
			t.Errorf("error %v: want ErrUnavailable listing the served models", err)
		}
	}
}

func TestEventReader(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"data: a\n\ndata: b\n\n", []string{"a", "b"}},
		{"data:a\r\n\r\n: keep-alive\r\n\r\ndata: b", []string{"a", "b"}},
		{"event: message\nid: 3\ndata: x\ndata: y\n\n", []string{"x\ny"}},
		{"\n\n\n", nil},
		{"retry: 100\n\n", nil},
	} {
		r := newEventReader(strings.NewReader(tc.in))
		var got []string
		for {
			d, err := r.next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Errorf("%q: %v", tc.in, err)
				}
				break
			}
			got = append(got, string(d))
		}
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%q: events %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzStream feeds arbitrary server output to the stream reader: it must
// never panic, and the text it keeps is what the events carried.
func FuzzStream(f *testing.F) {
	f.Add([]byte("data: " + chunkJSON("hi", []logprob{lp("hi", -0.1, "hi", -0.1, "ho", -1.0)}, "stop") + "\n\ndata: [DONE]\n\n"))
	f.Add([]byte("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n"))
	f.Add([]byte("data: {\"error\":\"boom\"}\n\n"))
	f.Add([]byte(": ping\n\ndata: [DONE]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var a accumulator
		_ = a.stream(strings.NewReader(string(b)))
		if a.complete && !a.done {
			t.Fatal("complete without done")
		}
		var n int
		for _, tk := range a.tokens {
			n += len(tk.Text)
		}
		// Invalid UTF-8 decodes to U+FFFD: at most three bytes for one.
		if n > 3*len(b) || a.text.Len() > 3*len(b) {
			t.Fatalf("%d bytes of tokens, %d of text from %d bytes of input", n, a.text.Len(), len(b))
		}
	})
}
