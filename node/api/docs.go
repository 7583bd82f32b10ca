package api

// Reading documents back: GET /v1/documents lists a shard's documents and
// GET /v1/documents/{id} returns one with its chunks, for `edgerag docs
// list|get` and for checking what a node holds.

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// DocumentInfo describes a stored document.
type DocumentInfo struct {
	ID         string            `json:"id"`
	Shard      string            `json:"shard"`
	Title      string            `json:"title,omitempty"`
	Source     string            `json:"source,omitempty"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	Chunks     int               `json:"chunks"`
	IngestedAt time.Time         `json:"ingested_at,omitzero"`
}

// DocumentList is a page of a shard's documents, in id order. Next, when
// set, is the "after" of the next page.
type DocumentList struct {
	Shard     string         `json:"shard"`
	Documents []DocumentInfo `json:"documents"`
	Next      string         `json:"next,omitempty"`
}

// DocumentChunk is one chunk of a document as stored (chunks overlap by
// the node's --chunk-overlap).
type DocumentChunk struct {
	Position int    `json:"position"`
	Heading  string `json:"heading,omitempty"`
	Text     string `json:"text"`
}

// DocumentDetail is a document with its chunks.
type DocumentDetail struct {
	DocumentInfo
	ChunkTexts []DocumentChunk `json:"chunk_texts"`
}

// DocumentService is implemented by services that can read their
// documents back.
type DocumentService interface {
	ListDocuments(ctx context.Context, shard, after string, limit int) (DocumentList, error)
	GetDocument(ctx context.Context, shard, id string) (DocumentDetail, error)
}

// MaxListLimit bounds one page of a document listing.
const MaxListLimit = 1000

// RegisterDocuments adds GET /v1/documents and GET /v1/documents/{id} to h
// when its service can read documents back.
func RegisterDocuments(h *Handler) {
	ds, ok := h.svc.(DocumentService)
	if !ok {
		return
	}
	h.mux.HandleFunc("GET /v1/documents", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit := 100
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > MaxListLimit {
				WriteError(w, Errorf(http.StatusBadRequest, CodeBadRequest, "limit=%q: use a number from 1 to %d", s, MaxListLimit))
				return
			}
			limit = n
		}
		list, err := ds.ListDocuments(r.Context(), q.Get("shard"), q.Get("after"), limit)
		if err != nil {
			WriteError(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, list)
	})
	h.mux.HandleFunc("GET /v1/documents/{id}", func(w http.ResponseWriter, r *http.Request) {
		d, err := ds.GetDocument(r.Context(), r.URL.Query().Get("shard"), r.PathValue("id"))
		if err != nil {
			WriteError(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, d)
	})
}
