package api

// Embeddings for clients: Ollama's /api/embed and /api/embeddings and
// OpenAI's /v1/embeddings pass texts to the embedding model the node's
// searches use, so that a client embeds its queries in the same space as
// the node's vectors.

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"time"
)

// EmbeddingService is implemented by services that can embed texts with
// the model their searches use.
type EmbeddingService interface {
	// Embed returns one vector per text, in order, and the model's id. A
	// service without an embedding model returns ErrNoEmbedder().
	Embed(ctx context.Context, texts []string) (model string, vectors [][]float32, err error)
}

// ErrNoEmbedder is the error for an embedding request to a node that has
// no embedding model.
func ErrNoEmbedder() *Error {
	return Errorf(http.StatusBadRequest, "no_embedding_model",
		"this node has no embedding model (it retrieves with BM25 only): start it with --ollama HOST --embed-model NAME to serve embeddings")
}

// maxEmbedInputs bounds the texts of one embedding request; the body limit
// (MaxChatBody) bounds their size.
const maxEmbedInputs = 512

type embedRequest struct {
	Model      string
	Texts      []string
	Dimensions int
	Base64     bool // OpenAI's encoding_format "base64"
}

type embedResult struct {
	Vectors [][]float32
	Words   int
	Took    time.Duration
}

// embedRequest reads an embedding request; input picks the field holding
// the texts (a string or an array of strings).
func (h *Handler) embedRequest(w http.ResponseWriter, r *http.Request, input func(compatFields) (json.RawMessage, string)) (embedRequest, *Error) {
	body, e := readChatBody(w, r)
	if e != nil {
		return embedRequest{}, e
	}
	f, e := decodeCompat(body, `{"model":"`+CompatModel+`","input":["text to embed"]}`)
	if e != nil {
		return embedRequest{}, e
	}
	var req embedRequest
	if req.Model, e = parseModel(f.Model, "model"); e != nil {
		return embedRequest{}, e
	}
	raw, field := input(f)
	switch k := jsonKind(raw); k {
	case "", "null":
		return embedRequest{}, badRequest(`%q is missing: send the text to embed, e.g. {"model":"%s","%s":"text"}`, field, CompatModel, field)
	case "string":
		var s string
		_ = json.Unmarshal(raw, &s)
		req.Texts = []string{s}
	case "array":
		var items []json.RawMessage
		_ = json.Unmarshal(raw, &items)
		if len(items) == 0 {
			return embedRequest{}, badRequest("%q is empty: send at least one text", field)
		}
		if len(items) > maxEmbedInputs {
			return embedRequest{}, badRequest("%q has %d texts; send at most %d per request", field, len(items), maxEmbedInputs)
		}
		for i, it := range items {
			if k := jsonKind(it); k != "string" {
				return embedRequest{}, badRequest("%s[%d] must be a string (token arrays are not accepted), got %s", field, i, k)
			}
			var s string
			_ = json.Unmarshal(it, &s)
			req.Texts = append(req.Texts, s)
		}
	default:
		return embedRequest{}, badRequest("%q must be a string or an array of strings, got %s", field, k)
	}
	switch k := jsonKind(f.Dimensions); k {
	case "", "null":
	case "number":
		var d float64
		_ = json.Unmarshal(f.Dimensions, &d)
		if d < 1 || d != math.Trunc(d) || d > 1<<16 {
			return embedRequest{}, badRequest(`"dimensions" = %s: must be a positive whole number`, f.Dimensions)
		}
		req.Dimensions = int(d)
	default:
		return embedRequest{}, badRequest(`"dimensions" must be a number, got %s`, k)
	}
	ef, e := stringField(f.EncodingFormat, "encoding_format")
	switch {
	case e != nil:
		return embedRequest{}, e
	case ef == "base64":
		req.Base64 = true
	case ef != "" && ef != "float":
		return embedRequest{}, badRequest(`"encoding_format" %q: use "float" or "base64"`, ef)
	}
	return req, nil
}

// embed checks the model name and embeds req's texts. The name "edgerag"
// and the embedding model's own name both reach the node's embedder.
func (h *Handler) embed(ctx context.Context, req embedRequest) (embedResult, *Error) {
	if !isRAGModel(req.Model) {
		known := false
		for _, m := range h.localModels(ctx) {
			if sameModel(req.Model, m.Name) {
				if m.Use != "embedding" {
					return embedResult{}, badRequest("%q is the node's %s model and does not embed; ask %q for embeddings", req.Model, m.Use, CompatModel)
				}
				known = true
			}
		}
		if !known {
			return embedResult{}, modelNotFound(req.Model)
		}
	}
	es, ok := h.svc.(EmbeddingService)
	if !ok {
		return embedResult{}, ErrNoEmbedder()
	}
	start := time.Now()
	_, vecs, err := es.Embed(ctx, req.Texts)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return embedResult{}, e
		}
		if e := AsError(err); e.Code != CodeInternal && e.Code != CodeTimeout {
			return embedResult{}, e // a kind of the core's errors (the embedder is down)
		}
		return embedResult{}, Errorf(http.StatusServiceUnavailable, "embedding_failed", "the embedding model failed: %v", err)
	}
	if len(vecs) != len(req.Texts) {
		return embedResult{}, Errorf(http.StatusInternalServerError, CodeInternal, "the embedding model returned %d vectors for %d texts", len(vecs), len(req.Texts))
	}
	if req.Dimensions > 0 {
		for i, v := range vecs {
			if req.Dimensions > len(v) {
				return embedResult{}, badRequest(`"dimensions" = %d: the model's vectors have %d; ask for at most that`, req.Dimensions, len(v))
			}
			vecs[i] = normalized(v[:req.Dimensions])
		}
	}
	res := embedResult{Vectors: vecs, Took: time.Since(start)}
	for _, t := range req.Texts {
		res.Words += words(t)
	}
	return res, nil
}

// normalized scales v to unit length, as a vector cut to fewer dimensions
// is only comparable by cosine after renormalising.
func normalized(v []float32) []float32 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	out := make([]float32, len(v))
	if s == 0 {
		return out
	}
	n := math.Sqrt(s)
	for i, x := range v {
		out[i] = float32(float64(x) / n)
	}
	return out
}
