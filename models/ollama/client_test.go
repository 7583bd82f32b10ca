package ollama

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/edgerag/edgerag/models"
)

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no model", Config{}, "names no model"},
		{"bad scheme", Config{Host: "ftp://x", GenModel: "m"}, "scheme"},
		{"negative ctx", Config{GenModel: "m", NumCtx: -1}, "NumCtx"},
		{"negative temperature", Config{GenModel: "m", Temperature: -0.1}, "Temperature"},
		{"negative keep-alive", Config{GenModel: "m", KeepAlive: -time.Second}, "KeepAlive"},
		{"too many alternatives", Config{GenModel: "m", TopLogprobs: 21}, "TopLogprobs"},
		{"negative timeout", Config{GenModel: "m", Timeout: -1}, "Timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New(%+v) error = %v, want one mentioning %q", tt.cfg, err, tt.want)
			}
		})
	}
}

func TestParseHost(t *testing.T) {
	tests := map[string]string{
		"":                      "http://127.0.0.1:11434",
		"127.0.0.1":             "http://127.0.0.1:11434",
		"localhost:9999":        "http://localhost:9999",
		"http://10.1.2.3:8080/": "http://10.1.2.3:8080/",
		"https://example.test":  "https://example.test:443",
		"[::1]:11434":           "http://[::1]:11434",
	}
	for in, want := range tests {
		u, err := parseHost(in)
		if err != nil || u.String() != want {
			t.Errorf("parseHost(%q) = %v, %v; want %s", in, u, err, want)
		}
	}
}

func TestWithTag(t *testing.T) {
	for in, want := range map[string]string{
		"llama3":                  "llama3:latest",
		"llama3:8b":               "llama3:8b",
		"registry:5000/org/model": "registry:5000/org/model:latest",
		"hf.co/org/model:Q4_K_M":  "hf.co/org/model:Q4_K_M",
	} {
		if got := withTag(in); got != want {
			t.Errorf("withTag(%q) = %q, want %q", in, got, want)
		}
	}
}

// fakeServer answers the few endpoints the client uses, the way Ollama
// does, so error mapping and streaming can be tested without a real server.
type fakeServer struct {
	models   []string // listed models
	pulled   atomic.Bool
	generate func(w http.ResponseWriter, r *http.Request)
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/api/tags":
		var resp api.ListResponse
		for _, m := range f.models {
			resp.Models = append(resp.Models, api.ListModelResponse{Name: m, Model: m, Digest: "abcdef0123456789abcdef"})
		}
		if f.pulled.Load() {
			resp.Models = append(resp.Models, api.ListModelResponse{Name: "pulled:latest", Model: "pulled:latest", Digest: "0123456789abcdef0123"})
		}
		_ = json.NewEncoder(w).Encode(resp)
	case "/api/pull":
		for _, p := range []api.ProgressResponse{{Status: "pulling manifest"}, {Status: "downloading", Completed: 50, Total: 100}, {Status: "success", Completed: 100, Total: 100}} {
			_ = json.NewEncoder(w).Encode(p)
		}
		f.pulled.Store(true)
	case "/api/show":
		var req api.ShowRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		caps := `["completion"]`
		if strings.Contains(req.Model, "embed") {
			caps = `["embedding"]`
		}
		fmt.Fprintf(w, `{"capabilities":%s}`, caps)
	case "/api/generate":
		if f.generate != nil {
			f.generate(w, r)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":"model 'x' not found"}`)
	default:
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `{"error":"boom"}`)
	}
}

// hang answers nothing until the client gives up. It reads the body first:
// only then does the server notice the client hanging up and cancel
// r.Context().
func hang(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second): // never hold the test server's Close for long
	}
}

func newFake(t *testing.T, f *fakeServer, cfg Config) *Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg.Host = srv.URL
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCheckPullsWithProgressWhenAllowed(t *testing.T) {
	f := &fakeServer{models: []string{"embed-model:latest"}}
	c := newFake(t, f, Config{EmbedModel: "embed-model", GenModel: "pulled", AllowPull: true})
	var seen []string
	err := c.Check(context.Background(), func(status string, done, total int64) {
		seen = append(seen, fmt.Sprintf("%s %d/%d", status, done, total))
	})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if want := "pulling manifest 0/0|downloading 50/100|success 100/100"; strings.Join(seen, "|") != want {
		t.Errorf("progress = %q, want %q", strings.Join(seen, "|"), want)
	}
	if got := c.Generator().Model(); got != "ollama/pulled:latest@0123456789ab" {
		t.Errorf("Generator().Model() = %q", got)
	}
	if got := c.Embedder().Model(); got != "ollama/embed-model:latest@abcdef012345" {
		t.Errorf("Embedder().Model() = %q", got)
	}
}

func TestCheckFailures(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"missing, no pull", Config{GenModel: "absent"}, []string{`"absent"`, "ollama pull absent", "AllowPull"}},
		{"wrong capability", Config{EmbedModel: "gen-model"}, []string{`"gen-model"`, "cannot do embedding", "completion"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newFake(t, &fakeServer{models: []string{"gen-model:latest"}}, tt.cfg)
			err := c.Check(context.Background(), nil)
			if !errors.Is(err, models.ErrUnavailable) {
				t.Fatalf("Check error = %v, want one wrapping ErrUnavailable", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestErrorsWrapErrUnavailable(t *testing.T) {
	// A port nothing listens on: bind one, then close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := l.Addr().String()
	l.Close()

	passages := []models.Passage{{N: 1, Text: "x"}}
	tests := []struct {
		name     string
		generate func(w http.ResponseWriter, r *http.Request)
		host     string
		want     string
	}{
		{name: "connection refused", host: deadAddr, want: "cannot reach Ollama"},
		{name: "model missing", want: "is not on the Ollama server"},
		{name: "server error", generate: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"error":"llama runner process has terminated"}`)
		}, want: "answered 500"},
		{name: "error mid-stream", generate: func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintln(w, `{"response":"The","logprobs":[{"token":"The","logprob":-0.1}]}`)
			fmt.Fprintln(w, `{"error":"out of memory"}`)
		}, want: "out of memory"},
		{name: "stream ends without done", generate: func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintln(w, `{"response":"The","logprobs":[{"token":"The","logprob":-0.1}]}`)
		}, want: "without its final message"},
		{name: "timeout", generate: hang, want: "within"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newFake(t, &fakeServer{generate: tt.generate}, Config{GenModel: "m", Timeout: 300 * time.Millisecond})
			if tt.host != "" {
				var err error
				if c, err = New(Config{Host: tt.host, GenModel: "m"}); err != nil {
					t.Fatal(err)
				}
			}
			_, _, err := c.Generate(context.Background(), models.GenerateRequest{Question: "q", Passages: passages}, nil)
			if !errors.Is(err, models.ErrUnavailable) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Generate error = %v, want one wrapping ErrUnavailable and mentioning %q", err, tt.want)
			}
		})
	}
}

func TestCallerCancellationIsNotUnavailable(t *testing.T) {
	c := newFake(t, &fakeServer{generate: hang}, Config{GenModel: "m"})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, _, err := c.Generate(ctx, models.GenerateRequest{Passages: []models.Passage{{N: 1, Text: "x"}}}, nil)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, models.ErrUnavailable) {
		t.Fatalf("error = %v, want the caller's deadline and not ErrUnavailable", err)
	}
}

func TestGenerateStreamsTokensAndSignals(t *testing.T) {
	chunks := []string{
		`{"response":"Yes","logprobs":[{"token":"Yes","logprob":-0.1,"top_logprobs":[{"token":"Yes","logprob":-0.1},{"token":"No","logprob":-2.5}]}]}`,
		`{"response":" [1][5].","logprobs":[{"token":" [","logprob":-0.2},{"token":"1","logprob":-0.01},{"token":"][","logprob":-1.5},{"token":"5","logprob":-3},{"token":"].","logprob":-0.05}]}`,
		`{"response":"","done":true,"done_reason":"stop"}`,
	}
	c := newFake(t, &fakeServer{generate: func(w http.ResponseWriter, r *http.Request) {
		var req api.GenerateRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		if !req.Logprobs || req.TopLogprobs != DefaultTopLogprobs || req.System != SystemPrompt || !pinned(req.KeepAlive) {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":"unexpected request: logprobs %v top %d keep-alive %v"}`, req.Logprobs, req.TopLogprobs, req.KeepAlive)
			return
		}
		for _, ch := range chunks {
			fmt.Fprintln(w, ch)
		}
	}}, Config{GenModel: "m"})

	var streamed []models.Token
	ans, tokens, err := c.Generate(context.Background(), models.GenerateRequest{
		Question: "q", Passages: []models.Passage{{N: 1, Text: "a"}, {N: 2, Text: "b"}},
	}, func(tok models.Token) error { streamed = append(streamed, tok); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if ans.Text != "Yes [1]." || ans.Mode != models.ModeGenerative || len(ans.Cited) != 1 || ans.Cited[0] != 1 || ans.Abstained {
		t.Errorf("answer = %+v", ans)
	}
	if len(tokens) != 6 || len(streamed) != 6 {
		t.Fatalf("%d tokens returned, %d streamed, want 6 each", len(tokens), len(streamed))
	}
	for k, want := range map[string]float64{SignalCited: 1, SignalComplete: 1, SignalCitationsValid: 0.5} {
		if got := ans.Signals[k]; got != want {
			t.Errorf("signal %s = %v, want %v", k, got, want)
		}
	}
	for _, k := range []string{SignalTokenProbMean, SignalTokenProbP10, SignalTokenProbMin, SignalTopMargin} {
		if v, ok := ans.Signals[k]; !ok || v <= 0 || v > 1 {
			t.Errorf("signal %s = %v (present %v), want in (0,1]", k, v, ok)
		}
	}
}

// pinned reports whether a keep-alive, as the server decodes it, means
// "never unload": the client sends -1, which decodes to the longest duration.
func pinned(d *api.Duration) bool {
	return d != nil && (d.Duration < 0 || d.Duration > 100*365*24*time.Hour)
}

func TestGenerateCallbackErrorStops(t *testing.T) {
	c := newFake(t, &fakeServer{generate: func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `{"response":"a","logprobs":[{"token":"a","logprob":-0.1}]}`)
		fmt.Fprintln(w, `{"response":"b","logprobs":[{"token":"b","logprob":-0.1}]}`)
		fmt.Fprintln(w, `{"done":true,"done_reason":"stop"}`)
	}}, Config{GenModel: "m"})
	stop := errors.New("client went away")
	_, tokens, err := c.Generate(context.Background(), models.GenerateRequest{Passages: []models.Passage{{N: 1, Text: "x"}}},
		func(models.Token) error { return stop })
	if !errors.Is(err, stop) || errors.Is(err, models.ErrUnavailable) || len(tokens) != 1 {
		t.Fatalf("error = %v after %d tokens, want the callback's error after 1", err, len(tokens))
	}
}

func TestGenerateWithoutPassagesAbstains(t *testing.T) {
	c := newFake(t, &fakeServer{}, Config{GenModel: "m"})
	ans, tokens, err := c.Generate(context.Background(), models.GenerateRequest{Question: "q"}, nil)
	if err != nil || !ans.Abstained || ans.Text != AbstainAnswer || tokens != nil {
		t.Fatalf("Generate with no passages = %+v, %v, %v; want an abstention without calling the model", ans, tokens, err)
	}
}

func TestIsAbstention(t *testing.T) {
	for text, want := range map[string]bool{
		AbstainAnswer: true,
		"the passages do not answer this question":      true,
		"The passages do not answer this question [1].": true,
		"Yes [1].": false,
		"The passages do not say much, but yes [1].": false,
	} {
		if got := isAbstention(text); got != want {
			t.Errorf("isAbstention(%q) = %v, want %v", text, got, want)
		}
	}
}
