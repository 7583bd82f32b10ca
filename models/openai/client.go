// Package openai connects a node to any server that speaks the OpenAI chat
// completions API (vLLM, llama.cpp's server, TGI, Ollama's /v1, a hosted
// API) for grounded generation: the same prompt, the same citation checks
// and the same confidence signals as the Ollama client, read from the
// server's streamed tokens and, where it reports them, their log
// probabilities.
//
// It speaks HTTP with the standard library: the API surface it needs (one
// streamed POST, one GET) is small, and an SDK would bring a dependency for
// it without adding a check.
//
// Every failure that means "this backend cannot serve now" (server down,
// model missing, key refused, server error, no answer in time) wraps
// models.ErrUnavailable, so the node falls back to its extractive answerer.
// Only the caller's own cancellation is returned as it is.
package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"time"

	"github.com/edgerag/edgerag/models"
	"github.com/edgerag/edgerag/models/ollama"
)

// KeyEnv is the environment variable the edgerag command reads the API key
// from. A key is never a flag: flags show in ps and shell history.
const KeyEnv = "EDGERAG_LLM_API_KEY"

// Defaults for the zero values of Config.
const (
	DefaultTimeout     = 2 * time.Minute
	DefaultMaxTokens   = 256
	DefaultTopLogprobs = 3
)

// Config says which server and model to use and how to run it.
type Config struct {
	// URL is the server's API base, as --llm takes it:
	// openai://host:port/v1 (plain HTTP, for a server on the host or the
	// LAN), openai+https://host/v1, or an http:// or https:// URL. Empty
	// means no server: New refuses it.
	URL string
	// Model names the model on the server, as its /models lists it.
	Model string
	// APIKey is sent as a bearer token; empty sends none (local servers).
	APIKey string
	// Temperature is the sampling temperature; 0 is greedy and repeatable,
	// what grounded answers want.
	Temperature float64
	// MaxTokens caps the tokens of one answer; 0 means DefaultMaxTokens.
	MaxTokens int
	// TopLogprobs is how many alternatives to ask for per generated token
	// (at most 20); 0 means DefaultTopLogprobs, negative asks for no log
	// probabilities at all (for servers that refuse the field).
	TopLogprobs int
	// Timeout bounds every request; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Client talks to one OpenAI-compatible server. It is safe for concurrent
// use and survives server restarts.
type Client struct {
	cfg       Config
	base      string // API base URL without a trailing slash
	http      *http.Client
	transport *http.Transport
	// noLogprobs is set once the server refused a request for log
	// probabilities (400) and accepted it without: later requests do not
	// ask again.
	noLogprobs atomic.Bool
}

var _ models.Generator = (*Client)(nil)

// New checks cfg and returns a client; it does no I/O.
func New(cfg Config) (*Client, error) {
	base, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("openai: --llm %q: %w", cfg.URL, err)
	}
	switch {
	case strings.TrimSpace(cfg.Model) == "":
		return nil, errors.New("openai: no model named; set --llm-model to a model the server lists at /models")
	case cfg.Temperature < 0 || cfg.Temperature > 2:
		return nil, fmt.Errorf("openai: temperature %g is outside 0..2", cfg.Temperature)
	case cfg.MaxTokens < 0:
		return nil, fmt.Errorf("openai: max tokens %d; use 0 for the default or a positive count", cfg.MaxTokens)
	case cfg.TopLogprobs > 20:
		return nil, fmt.Errorf("openai: top logprobs %d; the API allows at most 20", cfg.TopLogprobs)
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("openai: timeout %s; use 0 for the default or a positive duration", cfg.Timeout)
	case strings.ContainsAny(cfg.APIKey, "\r\n"):
		return nil, fmt.Errorf("openai: the API key in %s holds a line break; set it to the key alone", KeyEnv)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxTokens == 0 {
		cfg.MaxTokens = DefaultMaxTokens
	}
	if cfg.TopLogprobs == 0 {
		cfg.TopLogprobs = DefaultTopLogprobs
	}
	// A transport of our own, so that after a connection failure its idle
	// connections (dead once the server restarted) can be dropped without
	// touching anyone else's. A hosted API may sit behind the site's proxy.
	transport := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &Client{cfg: cfg, base: base.String(), http: &http.Client{Transport: transport}, transport: transport}, nil
}

// ParseURL turns what --llm takes into the API's base URL: openai://host:port/path
// is plain HTTP, openai+https://host/path and https:// are HTTPS, http://
// is plain HTTP. The path is the API prefix, usually /v1; it is kept as
// given.
func ParseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("empty; give the server as openai://host:port/v1 (or openai+https://host/v1)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("not a URL (for example openai://127.0.0.1:8000/v1): %w", err)
	}
	switch u.Scheme {
	case "openai", "openai+http", "http":
		u.Scheme = "http"
	case "openai+https", "https":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("scheme %q: use openai://host:port/v1 (HTTP) or openai+https://host/v1", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, errors.New("no host name (for example openai://127.0.0.1:8000/v1)")
	}
	if u.User != nil {
		return nil, fmt.Errorf("credentials in the URL would show in ps and logs; put the key in %s", KeyEnv)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("a query or fragment has no meaning here; give host, port and the API path only")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// Model names the generation model for answers and logs, for example
// "openai/qwen2.5:0.5b".
func (c *Client) Model() string { return "openai/" + c.cfg.Model }

// Base returns the API's base URL, for messages.
func (c *Client) Base() string { return c.base }

// Check makes sure the server answers, accepts the key and lists the model.
func (c *Client) Check(ctx context.Context) error {
	callCtx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := c.newRequest(callCtx, http.MethodGet, "/models", nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.fail(ctx, callCtx, "list models", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c.fail(ctx, callCtx, "list models", statusError(resp))
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&list); err != nil {
		return c.fail(ctx, callCtx, "list models", fmt.Errorf("decode the model list: %w", err))
	}
	var ids []string
	for _, m := range list.Data {
		if sameModel(m.ID, c.cfg.Model) {
			return nil
		}
		ids = append(ids, m.ID)
	}
	if len(ids) > 10 {
		ids = append(ids[:10], "…")
	}
	return fmt.Errorf("%w: model %q is not among those the server at %s serves (%s); set --llm-model to one of them",
		models.ErrUnavailable, c.cfg.Model, c.base, strings.Join(ids, ", "))
}

// sameModel compares names the way servers resolve them: case-insensitive,
// with Ollama's implied ":latest".
func sameModel(listed, want string) bool {
	tag := func(s string) string {
		if i := strings.LastIndexByte(s, '/'); !strings.Contains(s[i+1:], ":") {
			return s + ":latest"
		}
		return s
	}
	return strings.EqualFold(listed, want) || strings.EqualFold(tag(listed), tag(want))
}

// Warm asks for one token, so that a server which loads models on demand
// (Ollama, llama-swap) has the model loaded before the first question.
func (c *Client) Warm(ctx context.Context) error {
	body := chatRequest{
		Model:     c.cfg.Model,
		Messages:  []message{{Role: "user", Content: "ok"}},
		MaxTokens: 1,
	}
	callCtx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	resp, err := c.post(ctx, callCtx, body)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return nil
}

func (c *Client) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("openai: build request for %s%s: %w", c.base, path, err)
	}
	if c.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, text/event-stream")
	return req, nil
}

// post sends one chat completion request and returns the response once the
// server accepted it (200); the caller reads and closes the body.
func (c *Client) post(ctx, callCtx context.Context, body chatRequest) (*http.Response, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("openai: encode request: %w", err)
	}
	req, err := c.newRequest(callCtx, http.MethodPost, "/chat/completions", strings.NewReader(string(b)))
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.fail(ctx, callCtx, "chat completion", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, c.fail(ctx, callCtx, "chat completion", statusError(resp))
	}
	return resp, nil
}

// httpStatusError is a non-200 answer with the server's own message.
type httpStatusError struct {
	Code    int
	Message string
}

func (e *httpStatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("HTTP %d", e.Code)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Code, e.Message)
}

// statusError reads the error the server sent: the API's
// {"error":{"message":…}}, or the start of whatever else it sent.
func statusError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return &httpStatusError{Code: resp.StatusCode, Message: errorMessage(b)}
}

func errorMessage(b []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && len(e.Error) > 0 {
		var obj struct {
			Message string `json:"message"`
		}
		var s string
		switch {
		case json.Unmarshal(e.Error, &obj) == nil && obj.Message != "":
			return oneLine(obj.Message)
		case json.Unmarshal(e.Error, &s) == nil:
			return oneLine(s)
		}
	}
	return oneLine(string(b))
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// fail turns an error from a request into one the node can act on: the
// caller's cancellation as it is, anything else wrapping
// models.ErrUnavailable with what went wrong and how to fix it.
func (c *Client) fail(ctx, callCtx context.Context, op string, err error) error {
	what := "openai " + op + " " + c.cfg.Model
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
	if errors.Is(callCtx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s: no answer from %s within %s; the server is busy or the model too slow: %w",
			models.ErrUnavailable, what, c.base, c.cfg.Timeout, err)
	}
	var st *httpStatusError
	switch {
	case errors.As(err, &st) && (st.Code == http.StatusUnauthorized || st.Code == http.StatusForbidden):
		return fmt.Errorf("%w: %s: the server at %s refused the API key; set %s to a key it accepts: %w",
			models.ErrUnavailable, what, c.base, KeyEnv, err)
	case errors.As(err, &st) && st.Code == http.StatusNotFound:
		return fmt.Errorf("%w: %s: %s has no such model or path; check --llm-model and that --llm ends in the API prefix (usually /v1): %w",
			models.ErrUnavailable, what, c.base, err)
	case errors.As(err, &st):
		return fmt.Errorf("%w: %s: the server at %s answered: %w", models.ErrUnavailable, what, c.base, err)
	case ollama.IsConnError(err):
		// Pooled connections to a server that went away are dead; drop
		// them so the next call dials afresh.
		c.transport.CloseIdleConnections()
		return fmt.Errorf("%w: %s: cannot reach %s; start the server or fix --llm: %w", models.ErrUnavailable, what, c.base, err)
	default:
		c.transport.CloseIdleConnections()
		return fmt.Errorf("%w: %s: the server at %s failed: %w", models.ErrUnavailable, what, c.base, err)
	}
}
