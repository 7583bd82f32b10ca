package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// docsFake lists what it is asked, to check the handler's parameters.
type docsFake struct {
	*chatFake
	shard, after string
	limit        int
}

func (d *docsFake) ListDocuments(_ context.Context, shard, after string, limit int) (DocumentList, error) {
	d.shard, d.after, d.limit = shard, after, limit
	return DocumentList{Shard: shard, Documents: []DocumentInfo{}}, nil
}

func (d *docsFake) GetDocument(_ context.Context, shard, id string) (DocumentDetail, error) {
	return DocumentDetail{}, Errorf(http.StatusNotFound, CodeNotFound, "no document %q in shard %q", id, shard)
}

func TestDocumentRoutes(t *testing.T) {
	f := &docsFake{chatFake: &chatFake{}}
	h := NewHandler(f, nil)
	RegisterDocuments(h)
	if w := do(h, http.MethodGet, "/v1/documents?shard=manuals&after=b&limit=7", "", ""); w.Code != 200 || f.shard != "manuals" || f.after != "b" || f.limit != 7 {
		t.Errorf("%d %s: asked %+v", w.Code, w.Body, f)
	}
	if w := do(h, http.MethodGet, "/v1/documents", "", ""); w.Code != 200 || f.limit != 100 {
		t.Errorf("default limit %d", f.limit)
	}
	for _, l := range []string{"0", "1001", "x", "-1"} {
		if w := do(h, http.MethodGet, "/v1/documents?limit="+l, "", ""); w.Code != 400 || !strings.Contains(w.Body.String(), "from 1 to 1000") {
			t.Errorf("limit=%s: %d %s", l, w.Code, w.Body)
		}
	}
	if w := do(h, http.MethodGet, "/v1/documents/a%2Fb?shard=s", "", ""); w.Code != 404 || !strings.Contains(w.Body.String(), `no document \"a/b\" in shard \"s\"`) {
		t.Errorf("get: %d %s", w.Code, w.Body)
	}
}
