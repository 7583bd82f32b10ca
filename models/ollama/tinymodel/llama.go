package tinymodel

import (
	"fmt"
	"slices"

	"github.com/ollama/ollama/fs/ggml"
)

// GenAnswer is what the generation model writes for any prompt created with
// Template, token by token, before it ends with its end-of-sequence token.
const GenAnswer = "The tiny model cites passage [1]."

// answerTokens spells GenAnswer in the model's byte-level BPE tokens ("Ġ" is
// a leading space). Each must be distinct: token i is predicted from token
// i-1, so a repeated token would loop.
var answerTokens = []string{"The", "Ġtiny", "Ġmodel", "Ġcites", "Ġpassage", "Ġ[", "1", "]", "."}

// vocabWords are extra merged tokens so that ordinary English prompts are
// tokenized into words rather than bytes, as they would be by a real model.
var vocabWords = []string{
	"Ġthe", "Ġanswer", "Ġis", "Ġof", "Ġand", "Ġto", "Ġin", "Ġa", "Ġquestion",
	"Ġpassages", "Ġcite", "Ġedge", "Ġdevice", "Ġdata", "ĠPassage", "ĠQuestion",
	"ĠAnswer", "Ġnever", "Ġinstructions", "Ġwith", "Ġonly", "Ġnumbered",
}

// Shape of the generation model.
const (
	genVocabBase = 2 // <s> and </s> come before the 256 byte tokens
	genBOS       = 0
	genEOS       = 1
	genFFN       = 128
	genHeads     = 4
	genCtx       = 4096
	genSeed      = 20240601
	// featureGain sets how sure the model is: the winning logit is about
	// 8*featureGain (RMS norm scales a one-hot of 1 in 64 dims to 8), the
	// others about 0, so with ~350 tokens the chosen token's probability is
	// about 0.98: clearly below 1 (logprobs are informative) yet decisive.
	featureGain = 1.25
	// layerSigma keeps the random attention and feed-forward blocks small
	// next to the embedding, so the last token alone decides the next one.
	layerSigma = 0.02
	// noiseDims are the dimensions left to random noise; the ones below
	// carry the one-hot "which token came last" features.
	noiseDims = 16
)

// llamaVocab returns the byte-level BPE vocabulary (GPT-2 byte mapping),
// its token types, and merges that build every multi-byte token.
func llamaVocab() (tokens []string, types []int32, merges []string) {
	tokens = []string{"<s>", "</s>"}
	types = []int32{3, 3} // control
	for _, r := range byteRunes() {
		tokens = append(tokens, string(r))
		types = append(types, 1) // normal
	}
	seen := make(map[string]bool, len(tokens))
	for _, t := range tokens {
		seen[t] = true
	}
	// Each word is built left to right, one byte-token at a time, so every
	// prefix is a token and every merge joins two existing tokens.
	for _, w := range append(slices.Clone(answerTokens), vocabWords...) {
		rs := []rune(w)
		for k := 2; k <= len(rs); k++ {
			prefix, next, joined := string(rs[:k-1]), string(rs[k-1]), string(rs[:k])
			if seen[joined] {
				continue
			}
			seen[joined] = true
			tokens = append(tokens, joined)
			types = append(types, 1)
			merges = append(merges, prefix+" "+next)
		}
	}
	return tokens, types, merges
}

// byteRunes is GPT-2's byte-to-unicode table: printable bytes stand for
// themselves, the others are shifted above U+0100 so that every byte is a
// visible rune. llama.cpp requires a token for each of the 256.
func byteRunes() []rune {
	out := make([]rune, 256)
	printable := func(b int) bool {
		return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
	}
	shift := 0
	for b := range 256 {
		if printable(b) {
			out[b] = rune(b)
		} else {
			out[b] = rune(256 + shift)
			shift++
		}
	}
	return out
}

// successors maps each token to the one the model predicts after it: the
// answer's tokens follow one another, the last is followed by end of
// sequence, and every other token starts the answer. No token maps to
// itself, which matters: Ollama ends a stream silently, without its final
// message, when a model repeats one token about 30 times.
func successors(tokens []string) []int {
	id := make(map[string]int, len(tokens))
	for i, t := range tokens {
		id[t] = i
	}
	first := id[answerTokens[0]]
	next := make([]int, len(tokens))
	for i := range next {
		next[i] = first
	}
	for i, t := range answerTokens {
		if i+1 < len(answerTokens) {
			next[id[t]] = id[answerTokens[i+1]]
		} else {
			next[id[t]] = genEOS
		}
	}
	return next
}

// feature is the embedding dimension that says "token t came last": one per
// answer token, and dimension 0 shared by every other token.
func feature(tokens []string) []int {
	pos := make(map[string]int, len(answerTokens))
	for i, t := range answerTokens {
		pos[t] = 1 + i
	}
	f := make([]int, len(tokens))
	for i, t := range tokens {
		f[i] = pos[t] // 0 when not an answer token
	}
	return f
}

// llamaModel builds the generation model. The embedding is one-hot on the
// token's feature plus noise, the output matrix maps each feature to its
// successor, and the two random blocks in between only perturb that.
func llamaModel() (ggml.KV, []*ggml.Tensor) {
	tokens, types, merges := llamaVocab()
	n := len(tokens)
	const h = HiddenSize
	w := newWeights(genSeed)

	feat, next := feature(tokens), successors(tokens)
	embd := make(f32, n*h)
	out := make(f32, n*h)
	for t := range n {
		row := embd[t*h : (t+1)*h]
		row[feat[t]] = 1
		copy(row[noiseDims:], w.normal(h-noiseDims, layerSigma))
	}
	for t := range n {
		orow := out[next[t]*h : (next[t]+1)*h]
		orow[feat[t]] = featureGain
	}
	for t := range n {
		orow := out[t*h : (t+1)*h]
		noise := w.normal(h-noiseDims, layerSigma/2)
		for i, v := range noise {
			orow[noiseDims+i] += v
		}
	}

	ts := []*ggml.Tensor{
		tensor("token_embd.weight", embd, h, uint64(n)),
		tensor("output_norm.weight", fill(h, 1), h),
		tensor("output.weight", out, h, uint64(n)),
	}
	for i := range Layers {
		p := fmt.Sprintf("blk.%d.", i)
		ts = append(ts,
			tensor(p+"attn_norm.weight", fill(h, 1), h),
			tensor(p+"attn_q.weight", w.normal(h*h, layerSigma), h, h),
			tensor(p+"attn_k.weight", w.normal(h*h, layerSigma), h, h),
			tensor(p+"attn_v.weight", w.normal(h*h, layerSigma), h, h),
			tensor(p+"attn_output.weight", w.normal(h*h, layerSigma), h, h),
			tensor(p+"ffn_norm.weight", fill(h, 1), h),
			tensor(p+"ffn_gate.weight", w.normal(h*genFFN, layerSigma), h, genFFN),
			tensor(p+"ffn_up.weight", w.normal(h*genFFN, layerSigma), h, genFFN),
			tensor(p+"ffn_down.weight", w.normal(genFFN*h, layerSigma), genFFN, h),
		)
	}

	kv := ggml.KV{
		"general.architecture":                   "llama",
		"general.name":                           "edgerag-tiny-gen",
		"general.file_type":                      uint32(0), // all F32
		"llama.vocab_size":                       uint32(n),
		"llama.context_length":                   uint32(genCtx),
		"llama.embedding_length":                 uint32(h),
		"llama.block_count":                      uint32(Layers),
		"llama.feed_forward_length":              uint32(genFFN),
		"llama.attention.head_count":             uint32(genHeads),
		"llama.attention.head_count_kv":          uint32(genHeads),
		"llama.attention.layer_norm_rms_epsilon": float32(1e-5),
		"llama.rope.dimension_count":             uint32(h / genHeads),
		"llama.rope.freq_base":                   float32(10000),
		"tokenizer.ggml.model":                   "gpt2",
		"tokenizer.ggml.pre":                     "default",
		"tokenizer.ggml.tokens":                  tokens,
		"tokenizer.ggml.token_type":              types,
		"tokenizer.ggml.merges":                  merges,
		"tokenizer.ggml.bos_token_id":            uint32(genBOS),
		"tokenizer.ggml.eos_token_id":            uint32(genEOS),
		"tokenizer.ggml.add_bos_token":           true,
		"tokenizer.ggml.add_eos_token":           false,
	}
	return kv, ts
}
