package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Client talks to a node's HTTP API. Every command of the edgerag binary
// reaches a node through it, so what every request carries (the request id,
// a bearer token) is set here once.
type Client struct {
	// Token, when set, is sent as "Authorization: Bearer TOKEN" with every
	// request.
	Token string
	base  string
	hc    *http.Client
}

// NewClient returns a client for the node at base (for example
// "http://127.0.0.1:8080"). hc may be nil for http.DefaultClient; callers
// bound each call with the context's deadline.
func NewClient(base string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return &Client{base: strings.TrimRight(base, "/"), hc: hc}
}

// Ingest stores documents.
func (c *Client) Ingest(ctx context.Context, docs []Document) (IngestResponse, error) {
	var resp IngestResponse
	err := c.Call(ctx, http.MethodPost, "/v1/documents", IngestRequest{Documents: docs}, &resp)
	return resp, err
}

// IngestAsync queues documents as an ingest job; the node answers once
// they are stored durably and indexes them in the background.
func (c *Client) IngestAsync(ctx context.Context, docs []Document) (Job, error) {
	var job Job
	err := c.Call(ctx, http.MethodPost, "/v1/documents", struct {
		Documents []Document `json:"documents"`
		Async     bool       `json:"async"`
	}{docs, true}, &job)
	return job, err
}

// Job returns the progress of an ingest job.
func (c *Client) Job(ctx context.Context, id string) (Job, error) {
	var job Job
	err := c.Call(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id), nil, &job)
	return job, err
}

// Delete removes a document.
func (c *Client) Delete(ctx context.Context, shardName, id string) (DeleteResponse, error) {
	var resp DeleteResponse
	p := "/v1/documents/" + url.PathEscape(id)
	if shardName != "" {
		p += "?shard=" + url.QueryEscape(shardName)
	}
	err := c.Call(ctx, http.MethodDelete, p, nil, &resp)
	return resp, err
}

// Query asks a question.
func (c *Client) Query(ctx context.Context, q QueryRequest) (QueryResponse, error) {
	var resp QueryResponse
	err := c.Call(ctx, http.MethodPost, "/v1/query", q, &resp)
	return resp, err
}

// Status returns the node's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.Call(ctx, http.MethodGet, "/v1/status", nil, &st)
	return st, err
}

// Ready reports whether the node answers /readyz with 200.
func (c *Client) Ready(ctx context.Context) bool {
	return c.Call(ctx, http.MethodGet, "/readyz", nil, nil) == nil
}

// Call sends in (nil: no body) as JSON to path on the node and decodes the
// JSON answer into out (nil: discard it). A failed request returns the
// node's *Error, with its HTTP status.
func (c *Client) Call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if id := RequestID(ctx); id != "" {
		req.Header.Set("X-Request-Id", id)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: is the node running at %s? %w", method, path, c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error *Error `json:"error"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, &e) == nil && e.Error != nil {
			e.Error.Status = resp.StatusCode
			return e.Error
		}
		return Errorf(resp.StatusCode, CodeInternal, "%s %s: HTTP %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, path, err)
	}
	return nil
}
