package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/edgerag/edgerag/node/api"
)

// TestClientCall: the client sends its token as a bearer credential, and a
// failed request comes back as the node's error with its status.
func TestClientCall(t *testing.T) {
	var gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		if r.URL.Path == "/v1/missing" {
			api.WriteError(w, api.Errorf(http.StatusNotFound, api.CodeNotFound, "no such thing"))
			return
		}
		api.WriteJSON(w, http.StatusOK, map[string]string{"ok": "yes"})
	}))
	defer srv.Close()
	ctx := context.Background()
	c := api.NewClient(srv.URL, nil)
	var out map[string]string
	if err := c.Call(ctx, http.MethodGet, "/v1/thing", nil, &out); err != nil || out["ok"] != "yes" {
		t.Fatalf("call: %v %v", out, err)
	}
	if gotAuth != "" {
		t.Errorf("without a token the client sent Authorization %q", gotAuth)
	}
	c.Token = "s3cret"
	err := c.Call(ctx, http.MethodPost, "/v1/missing", map[string]int{"a": 1}, nil)
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound || ae.Message != "no such thing" {
		t.Errorf("failed call returned %v, want the node's 404 error", err)
	}
	if gotAuth != "Bearer s3cret" {
		t.Errorf("Authorization = %q, want the bearer token", gotAuth)
	}
}
