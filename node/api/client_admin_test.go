package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/edgerag/edgerag/node/api"
)

// TestClientDocumentsPages: Documents follows the node's pages until the
// list ends or the limit is reached, asking no more than it needs.
func TestClientDocumentsPages(t *testing.T) {
	const total = api.MaxListLimit + 7
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.RawQuery)
		after, _ := strconv.Atoi(r.URL.Query().Get("after"))
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		var l api.DocumentList
		for i := after; i < min(after+limit, total); i++ {
			l.Documents = append(l.Documents, api.DocumentInfo{ID: fmt.Sprint(i)})
		}
		if after+limit < total {
			l.Next = fmt.Sprint(after + limit)
		}
		api.WriteJSON(w, http.StatusOK, l)
	}))
	defer srv.Close()
	c := api.NewClient(srv.URL, nil)
	all, err := c.Documents(context.Background(), "manuals", 0)
	if err != nil || len(all) != total || all[total-1].ID != fmt.Sprint(total-1) {
		t.Fatalf("all: %d documents, %v", len(all), err)
	}
	if len(asked) != 2 || asked[0] != fmt.Sprintf("limit=%d&shard=manuals", api.MaxListLimit) {
		t.Fatalf("asked %q", asked)
	}
	asked = nil
	some, err := c.Documents(context.Background(), "", 3)
	if err != nil || len(some) != 3 || len(asked) != 1 || asked[0] != "limit=3" {
		t.Fatalf("limit 3: %d documents, asked %q, %v", len(some), asked, err)
	}
}

// TestPublishRequestNamesOneKind: the publish body names exactly one of a
// shard, a config (even an empty one) or a model set, as central checks.
func TestPublishRequestNamesOneKind(t *testing.T) {
	var bodies []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Error(err)
		}
		bodies = append(bodies, m)
		api.WriteJSON(w, http.StatusOK, map[string]any{})
	}))
	defer srv.Close()
	c := api.NewClient(srv.URL, nil)
	ctx := context.Background()
	for _, req := range []api.PublishRequest{{Shard: "manuals", MinVersion: 3}, {Config: map[string]string{}}, {Models: []string{"all-minilm"}}} {
		if err := c.Publish(ctx, req, nil); err != nil {
			t.Fatal(err)
		}
	}
	given := func(m map[string]any) (kinds int) {
		if m["shard"] != nil {
			kinds++
		}
		if m["config"] != nil {
			kinds++
		}
		if m["models"] != nil {
			kinds++
		}
		return kinds
	}
	for i, m := range bodies {
		if given(m) != 1 {
			t.Errorf("request %d names %d kinds: %v", i, given(m), m)
		}
	}
	if bodies[0]["min_version"] != 3.0 || bodies[1]["config"] == nil {
		t.Errorf("bodies %v", bodies)
	}
}
