// Package ollama connects a node to a local Ollama server: embeddings for
// dense and hybrid retrieval, and grounded generation that cites passages as
// [n] and reports every token's log probability for the confidence score.
//
// Every failure that means "this backend cannot serve now" (server down,
// model missing, server error, no answer in time) wraps models.ErrUnavailable,
// so the node can fall back to its embedded extractive answerer. Only the
// caller's own cancellation is returned as it is.
//
// A Client serves both roles; Embedder and Generator give the
// models.Embedder and models.Generator views, which differ only in what
// Model names.
package ollama

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/edgerag/edgerag/models"
)

// Defaults for the zero values of Config.
const (
	DefaultHost        = "http://127.0.0.1:11434"
	DefaultTimeout     = 2 * time.Minute
	DefaultNumPredict  = 256
	DefaultTopLogprobs = 3
)

// Config says which server and models to use and how to run them.
type Config struct {
	// Host is the server's URL or host:port, as in OLLAMA_HOST; empty means
	// DefaultHost.
	Host string
	// EmbedModel and GenModel name the models (for example
	// "nomic-embed-text" or "qwen2.5:0.5b"); an empty name disables that
	// role, whose calls then fail with models.ErrUnavailable.
	EmbedModel, GenModel string
	// NumCtx is the context window in tokens; 0 leaves the server's default.
	NumCtx int
	// Temperature is the sampling temperature; 0 is greedy and repeatable,
	// what grounded answers want.
	Temperature float64
	// KeepAlive is how long the server keeps a model loaded after a call.
	// 0 pins it (never unloaded), so no query pays the load time.
	KeepAlive time.Duration
	// NumThread is the CPU threads per model; 0 leaves the server's choice.
	// On 2-core devices 1 is much faster than 2.
	NumThread int
	// NumPredict caps the tokens of one answer; 0 means DefaultNumPredict.
	NumPredict int
	// TopLogprobs is how many alternatives the server reports per generated
	// token (at most 20); 0 means DefaultTopLogprobs, negative none. At
	// least 2 are needed for the top-margin signal.
	TopLogprobs int
	// AllowPull lets Check download missing models.
	AllowPull bool
	// Timeout bounds every request except a pull; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Client talks to one Ollama server. It is safe for concurrent use and
// survives server restarts: calls fail while the server is down and succeed
// again once it is back.
type Client struct {
	cfg       Config
	host      string // base URL, for messages
	api       *api.Client
	transport *http.Transport

	mu      sync.Mutex
	digests map[string]string // model name -> digest, learnt by Check
	// embedCtx is the embedding model's own context window, learnt by
	// Check; 0 until then.
	embedCtx int
}

// New checks cfg and returns a client; it does no I/O.
func New(cfg Config) (*Client, error) {
	base, err := parseHost(cfg.Host)
	if err != nil {
		return nil, fmt.Errorf("ollama: Config.Host %q: %w", cfg.Host, err)
	}
	if cfg.EmbedModel == "" && cfg.GenModel == "" {
		return nil, errors.New("ollama: Config names no model; set EmbedModel, GenModel or both")
	}
	switch {
	case cfg.NumCtx < 0:
		return nil, fmt.Errorf("ollama: Config.NumCtx is %d; use 0 for the server default or a positive token count", cfg.NumCtx)
	case cfg.Temperature < 0:
		return nil, fmt.Errorf("ollama: Config.Temperature is %g; use 0 (greedy) or more", cfg.Temperature)
	case cfg.KeepAlive < 0:
		return nil, fmt.Errorf("ollama: Config.KeepAlive is %s; use 0 to pin models or a positive duration", cfg.KeepAlive)
	case cfg.NumThread < 0:
		return nil, fmt.Errorf("ollama: Config.NumThread is %d; use 0 for the server default or a positive count", cfg.NumThread)
	case cfg.NumPredict < 0:
		return nil, fmt.Errorf("ollama: Config.NumPredict is %d; use 0 for the default or a positive token count", cfg.NumPredict)
	case cfg.TopLogprobs > 20:
		return nil, fmt.Errorf("ollama: Config.TopLogprobs is %d; the server allows at most 20", cfg.TopLogprobs)
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("ollama: Config.Timeout is %s; use 0 for the default or a positive duration", cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.NumPredict == 0 {
		cfg.NumPredict = DefaultNumPredict
	}
	if cfg.TopLogprobs == 0 {
		cfg.TopLogprobs = DefaultTopLogprobs
	} else if cfg.TopLogprobs < 0 {
		cfg.TopLogprobs = 0
	}

	// A transport of our own, so that after a connection failure its idle
	// connections (dead once the server restarted) can be dropped without
	// touching anyone else's.
	transport := &http.Transport{
		Proxy:               nil, // a local server is never reached through a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	return &Client{
		cfg:       cfg,
		host:      base.String(),
		api:       api.NewClient(base, &http.Client{Transport: transport}),
		transport: transport,
		digests:   make(map[string]string),
	}, nil
}

// parseHost accepts what OLLAMA_HOST accepts: "", "host", "host:port" or a
// URL.
func parseHost(host string) (*url.URL, error) {
	if host == "" {
		host = DefaultHost
	}
	if !strings.Contains(host, "://") {
		host = "http://" + host
	}
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("not a host:port or URL (for example 127.0.0.1:11434): %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, errors.New("no host name (for example 127.0.0.1:11434)")
	}
	if u.Port() == "" {
		port := "11434"
		if u.Scheme == "https" {
			port = "443"
		}
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	return u, nil
}

// Host returns the server's base URL.
func (c *Client) Host() string { return c.host }

// Check makes sure the configured models are on the server and can do their
// jobs (embedding, completion), pulling missing ones when AllowPull is set
// and reporting the pull through progress (which may be nil). It also learns
// each model's digest, which Model then reports.
func (c *Client) Check(ctx context.Context, progress func(status string, done, total int64)) error {
	type need struct {
		name, role string
		capability string
	}
	var needs []need
	if c.cfg.EmbedModel != "" {
		needs = append(needs, need{c.cfg.EmbedModel, "embedding", "embedding"})
	}
	if c.cfg.GenModel != "" {
		needs = append(needs, need{c.cfg.GenModel, "generation", "completion"})
	}

	listed, err := c.list(ctx)
	if err != nil {
		return err
	}
	for _, n := range needs {
		digest, ok := findModel(listed, n.name)
		if !ok {
			if !c.cfg.AllowPull {
				return fmt.Errorf("%w: %s model %q is not on the Ollama server at %s; run 'ollama pull %s' there, or set AllowPull so the node pulls it",
					models.ErrUnavailable, n.role, n.name, c.host, n.name)
			}
			if err := c.pull(ctx, n.name, progress); err != nil {
				return err
			}
			if listed, err = c.list(ctx); err != nil {
				return err
			}
			if digest, ok = findModel(listed, n.name); !ok {
				return fmt.Errorf("%w: pulled %s model %q but the server at %s does not list it; check the server log",
					models.ErrUnavailable, n.role, n.name, c.host)
			}
		}

		callCtx, cancel := c.withTimeout(ctx)
		show, err := c.api.Show(callCtx, &api.ShowRequest{Model: n.name})
		cancel()
		if err != nil {
			return c.fail(ctx, callCtx, "show", n.name, err)
		}
		caps := make([]string, len(show.Capabilities))
		for i, cp := range show.Capabilities {
			caps[i] = string(cp)
		}
		if !slices.Contains(caps, n.capability) {
			return fmt.Errorf("%w: model %q on %s cannot do %s (its capabilities: %s); set the %s model to one that can",
				models.ErrUnavailable, n.name, c.host, n.role, strings.Join(caps, ", "), n.role)
		}

		c.mu.Lock()
		c.digests[n.name] = digest
		if n.role == "embedding" {
			c.embedCtx = contextLength(show.ModelInfo)
		}
		c.mu.Unlock()
	}
	return nil
}

func (c *Client) list(ctx context.Context) ([]api.ListModelResponse, error) {
	callCtx, cancel := c.withTimeout(ctx)
	defer cancel()
	resp, err := c.api.List(callCtx)
	if err != nil {
		return nil, c.fail(ctx, callCtx, "list models", "", err)
	}
	return resp.Models, nil
}

// pull downloads a model. It is not bound by Timeout: a download over a slow
// link takes as long as it takes, and progress shows it moving.
func (c *Client) pull(ctx context.Context, name string, progress func(string, int64, int64)) error {
	err := c.api.Pull(ctx, &api.PullRequest{Model: name}, func(p api.ProgressResponse) error {
		if progress != nil {
			progress(p.Status, p.Completed, p.Total)
		}
		return nil
	})
	if err != nil {
		return c.fail(ctx, ctx, "pull", name, err)
	}
	return nil
}

// findModel looks name up the way the server resolves it: case-insensitive,
// with ":latest" when no tag is given.
func findModel(listed []api.ListModelResponse, name string) (digest string, ok bool) {
	want := withTag(name)
	for _, m := range listed {
		if strings.EqualFold(withTag(m.Name), want) || strings.EqualFold(withTag(m.Model), want) {
			return m.Digest, true
		}
	}
	return "", false
}

func withTag(name string) string {
	if i := strings.LastIndexByte(name, '/'); !strings.Contains(name[i+1:], ":") {
		return name + ":latest"
	}
	return name
}

// Warm loads the configured models and pins them for KeepAlive, so that the
// first query does not pay the load time (about a second for small models,
// much more for large ones on slow storage).
func (c *Client) Warm(ctx context.Context) error {
	if c.cfg.EmbedModel != "" {
		callCtx, cancel := c.withTimeout(ctx)
		// An empty input loads the model and embeds nothing.
		_, err := c.api.Embed(callCtx, &api.EmbedRequest{
			Model:     c.cfg.EmbedModel,
			Input:     []string{},
			KeepAlive: c.keepAlive(),
			Options:   c.options(false),
		})
		cancel()
		if err != nil {
			return c.fail(ctx, callCtx, "load", c.cfg.EmbedModel, err)
		}
	}
	if c.cfg.GenModel != "" {
		callCtx, cancel := c.withTimeout(ctx)
		stream := false
		// An empty prompt loads the model and generates nothing.
		err := c.api.Generate(callCtx, &api.GenerateRequest{
			Model:     c.cfg.GenModel,
			Stream:    &stream,
			KeepAlive: c.keepAlive(),
			Options:   c.options(true),
		}, func(api.GenerateResponse) error { return nil })
		cancel()
		if err != nil {
			return c.fail(ctx, callCtx, "load", c.cfg.GenModel, err)
		}
	}
	return nil
}

// ParseModelID splits a name made by Embedder.Model or Generator.Model,
// "ollama/NAME:TAG@DIGEST", into the model name and the digest prefix
// (empty when the name carries none). ok is false for names of other
// backends.
func ParseModelID(id string) (name, digest string, ok bool) {
	rest, ok := strings.CutPrefix(id, "ollama/")
	if !ok || rest == "" {
		return "", "", false
	}
	name, digest, _ = strings.Cut(rest, "@")
	return name, digest, name != ""
}

// modelID names a model with the digest Check learnt, so that stored
// vectors can be tied to the exact model that produced them.
func (c *Client) modelID(name string) string {
	c.mu.Lock()
	digest := c.digests[name]
	c.mu.Unlock()
	digest = strings.TrimPrefix(digest, "sha256:")
	if len(digest) > 12 {
		digest = digest[:12]
	}
	if digest == "" {
		return "ollama/" + withTag(name)
	}
	return "ollama/" + withTag(name) + "@" + digest
}

func (c *Client) keepAlive() *api.Duration {
	if c.cfg.KeepAlive == 0 {
		return &api.Duration{Duration: -1} // the server reads negative as "forever"
	}
	return &api.Duration{Duration: c.cfg.KeepAlive}
}

// contextLength reads a model's trained window from its GGUF metadata
// ("<arch>.context_length"); 0 when the server did not say.
func contextLength(info map[string]any) int {
	for k, v := range info {
		if !strings.HasSuffix(k, ".context_length") {
			continue
		}
		if f, ok := v.(float64); ok && f > 0 { // JSON numbers decode as float64
			return int(f)
		}
	}
	return 0
}

func (c *Client) options(generate bool) map[string]any {
	o := map[string]any{}
	if c.cfg.NumThread > 0 {
		o["num_thread"] = c.cfg.NumThread
	}
	if c.cfg.NumCtx > 0 {
		o["num_ctx"] = c.cfg.NumCtx
	}
	if generate {
		o["temperature"] = c.cfg.Temperature
		o["num_predict"] = c.cfg.NumPredict
	}
	return o
}

func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.cfg.Timeout)
}

// fail turns an error from a request into one the node can act on: the
// caller's cancellation as it is, anything else wrapping
// models.ErrUnavailable with what went wrong and how to fix it. callCtx is
// the request's context (ctx with Timeout applied).
func (c *Client) fail(ctx, callCtx context.Context, op, model string, err error) error {
	what := "ollama " + op
	if model != "" {
		what += " " + model
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
	var status api.StatusError
	var auth api.AuthorizationError
	switch {
	case !errors.As(err, &status) && errors.Is(callCtx.Err(), context.DeadlineExceeded):
		// A status the server sent says more than the deadline that
		// passed while it was read (a loaded machine can take that long).
		return fmt.Errorf("%w: %s: no answer from %s within %s (Config.Timeout); the server is busy or the model too slow for this device: %w",
			models.ErrUnavailable, what, c.host, c.cfg.Timeout, err)
	case errors.As(err, &status) && status.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%w: %s: model %q is not on the Ollama server at %s; run 'ollama pull %s' there, or set AllowPull and call Check: %w",
			models.ErrUnavailable, what, model, c.host, model, err)
	case errors.As(err, &status):
		return fmt.Errorf("%w: %s: the Ollama server at %s answered %d; see its log: %w",
			models.ErrUnavailable, what, c.host, status.StatusCode, err)
	case errors.As(err, &auth):
		return fmt.Errorf("%w: %s: the server at %s asks for authorization; use a local Ollama server: %w",
			models.ErrUnavailable, what, c.host, err)
	case IsConnError(err):
		// Pooled connections to a server that went away are dead; drop
		// them so the next call dials afresh.
		c.transport.CloseIdleConnections()
		return fmt.Errorf("%w: %s: cannot reach Ollama at %s; start it ('ollama serve') or fix Config.Host: %w",
			models.ErrUnavailable, what, c.host, err)
	default:
		c.transport.CloseIdleConnections()
		return fmt.Errorf("%w: %s: the Ollama server at %s failed: %w", models.ErrUnavailable, what, c.host, err)
	}
}

// IsConnError reports whether err says the server could not be reached or
// dropped the connection (as opposed to answering with an error), for this
// client and for the other model clients that speak HTTP to a server.
func IsConnError(err error) bool {
	var opErr *net.OpError
	var urlErr *url.Error
	return errors.As(err, &opErr) || errors.As(err, &urlErr) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
