package api

import (
	"context"
	"net/http"
	"net/url"
)

// FlaggedService is implemented by services that keep flagged chunks for
// an admin: GET /v1/flagged lists them, POST
// /v1/flagged/{shard}/{id}/release lets a document's flagged chunks answer
// again, DELETE /v1/flagged/{shard}/{id} deletes the document. The service
// checks that the caller is an admin.
type FlaggedService interface {
	Flagged(ctx context.Context) (FlaggedList, error)
	Release(ctx context.Context, shardName, id string) (ReleaseResponse, error)
	DeleteFlagged(ctx context.Context, shardName, id string) (DeleteResponse, error)
}

func registerFlagged(h *Handler) {
	fs, ok := h.svc.(FlaggedService)
	if !ok {
		return
	}
	h.mux.HandleFunc("GET /v1/flagged", func(w http.ResponseWriter, r *http.Request) {
		resp, err := fs.Flagged(r.Context())
		if err != nil {
			WriteError(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, resp)
	})
	h.mux.HandleFunc("POST /v1/flagged/{shard}/{id}/release", func(w http.ResponseWriter, r *http.Request) {
		resp, err := fs.Release(r.Context(), r.PathValue("shard"), r.PathValue("id"))
		if err != nil {
			WriteError(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, resp)
	})
	h.mux.HandleFunc("DELETE /v1/flagged/{shard}/{id}", func(w http.ResponseWriter, r *http.Request) {
		resp, err := fs.DeleteFlagged(r.Context(), r.PathValue("shard"), r.PathValue("id"))
		if err != nil {
			WriteError(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, resp)
	})
}

// Flagged lists the node's flagged chunks.
func (c *Client) Flagged(ctx context.Context) (FlaggedList, error) {
	var resp FlaggedList
	err := c.Call(ctx, http.MethodGet, "/v1/flagged", nil, &resp)
	return resp, err
}

// Release lets a document's flagged chunks answer again.
func (c *Client) Release(ctx context.Context, shardName, id string) (ReleaseResponse, error) {
	var resp ReleaseResponse
	err := c.Call(ctx, http.MethodPost, "/v1/flagged/"+url.PathEscape(shardName)+"/"+url.PathEscape(id)+"/release", nil, &resp)
	return resp, err
}

// DeleteFlagged deletes a document with flagged chunks.
func (c *Client) DeleteFlagged(ctx context.Context, shardName, id string) (DeleteResponse, error) {
	var resp DeleteResponse
	err := c.Call(ctx, http.MethodDelete, "/v1/flagged/"+url.PathEscape(shardName)+"/"+url.PathEscape(id), nil, &resp)
	return resp, err
}
