package tinymodel

import (
	"fmt"

	"github.com/ollama/ollama/fs/ggml"
)

// Shape of the embedding model.
const (
	bertFFN   = 128
	bertHeads = 4
	bertCtx   = 512
	bertSeed  = 20240602
)

// wordPiecePrefix marks a token that starts a word in GGML WordPiece
// vocabularies (where BERT's original "##" marked continuations instead).
const wordPiecePrefix = "▁"

// bertWords are whole-word tokens, so that texts about the same things share
// tokens and land near each other; anything else falls back to letters.
var bertWords = []string{
	"the", "a", "an", "of", "and", "or", "to", "in", "on", "is", "are", "was",
	"it", "for", "with", "by", "from", "at", "as", "this", "that", "what",
	"how", "why", "when", "where", "which", "who", "not", "no", "yes",
	"edge", "device", "devices", "node", "nodes", "memory", "ram", "cpu",
	"battery", "power", "solar", "water", "pump", "sensor", "network",
	"answer", "question", "passage", "document", "model", "index", "search",
	"cat", "dog", "river", "mountain", "city", "temperature", "weather",
}

// bertVocab returns a lower-case WordPiece vocabulary: the five BERT special
// tokens, whole words, and every letter, digit and ASCII punctuation mark
// both at a word's start and inside a word, so no text is ever unknown.
func bertVocab() (tokens []string, types []int32) {
	tokens = []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
	types = []int32{3, 3, 3, 3, 3} // control
	add := func(t string) {
		tokens = append(tokens, t)
		types = append(types, 1) // normal
	}
	for _, w := range bertWords {
		add(wordPiecePrefix + w)
	}
	for c := byte('!'); c <= '~'; c++ {
		if c >= 'A' && c <= 'Z' {
			continue // the tokenizer lower-cases first
		}
		add(wordPiecePrefix + string(c))
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
			add(string(c)) // continuation inside a word
		}
	}
	return tokens, types
}

// bertModel builds the embedding model: random token embeddings dominate,
// position and type embeddings and the two encoder blocks are small, so the
// mean-pooled, normalised output behaves like a bag of words.
func bertModel() (ggml.KV, []*ggml.Tensor) {
	tokens, types := bertVocab()
	n := len(tokens)
	const h = HiddenSize
	w := newWeights(bertSeed)

	ts := []*ggml.Tensor{
		tensor("token_embd.weight", w.normal(n*h, 1), h, uint64(n)),
		tensor("token_types.weight", w.normal(2*h, 0.02), h, 2),
		tensor("position_embd.weight", w.normal(bertCtx*h, 0.05), h, bertCtx),
		tensor("token_embd_norm.weight", fill(h, 1), h),
		tensor("token_embd_norm.bias", fill(h, 0), h),
	}
	for i := range Layers {
		p := fmt.Sprintf("blk.%d.", i)
		ts = append(ts,
			tensor(p+"attn_q.weight", w.normal(h*h, layerSigma), h, h),
			tensor(p+"attn_q.bias", fill(h, 0), h),
			tensor(p+"attn_k.weight", w.normal(h*h, layerSigma), h, h),
			tensor(p+"attn_k.bias", fill(h, 0), h),
			tensor(p+"attn_v.weight", w.normal(h*h, layerSigma), h, h),
			tensor(p+"attn_v.bias", fill(h, 0), h),
			tensor(p+"attn_output.weight", w.normal(h*h, layerSigma), h, h),
			tensor(p+"attn_output.bias", fill(h, 0), h),
			tensor(p+"attn_output_norm.weight", fill(h, 1), h),
			tensor(p+"attn_output_norm.bias", fill(h, 0), h),
			tensor(p+"ffn_up.weight", w.normal(h*bertFFN, layerSigma), h, bertFFN),
			tensor(p+"ffn_up.bias", fill(bertFFN, 0), bertFFN),
			tensor(p+"ffn_down.weight", w.normal(bertFFN*h, layerSigma), bertFFN, h),
			tensor(p+"ffn_down.bias", fill(h, 0), h),
			tensor(p+"layer_output_norm.weight", fill(h, 1), h),
			tensor(p+"layer_output_norm.bias", fill(h, 0), h),
		)
	}

	kv := ggml.KV{
		"general.architecture":              "bert",
		"general.name":                      "edgerag-tiny-embed",
		"general.file_type":                 uint32(0), // all F32
		"bert.context_length":               uint32(bertCtx),
		"bert.embedding_length":             uint32(h),
		"bert.block_count":                  uint32(Layers),
		"bert.feed_forward_length":          uint32(bertFFN),
		"bert.attention.head_count":         uint32(bertHeads),
		"bert.attention.layer_norm_epsilon": float32(1e-12),
		"bert.attention.causal":             false,
		"bert.pooling_type":                 uint32(1), // mean
		"bert.normalize_embeddings":         true,
		"tokenizer.ggml.model":              "bert",
		"tokenizer.ggml.tokens":             tokens,
		"tokenizer.ggml.token_type":         types,
		"tokenizer.ggml.padding_token_id":   uint32(0),
		"tokenizer.ggml.unknown_token_id":   uint32(1),
		"tokenizer.ggml.cls_token_id":       uint32(2),
		"tokenizer.ggml.seperator_token_id": uint32(3), // sic: the key GGUF files and ollama use
		"tokenizer.ggml.mask_token_id":      uint32(4),
		"tokenizer.ggml.add_bos_token":      true,
		"tokenizer.ggml.add_eos_token":      true,
	}
	return kv, ts
}
