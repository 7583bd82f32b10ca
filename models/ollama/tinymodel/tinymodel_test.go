package tinymodel

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/ollama/ollama/fs/ggml"
)

func TestGGUFSmallDeterministicAndDecodable(t *testing.T) {
	for _, kind := range []Kind{Generation, Embedding} {
		t.Run(kind.String(), func(t *testing.T) {
			a, err := GGUF(kind)
			if err != nil {
				t.Fatal(err)
			}
			b, err := GGUF(kind)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Fatal("two calls wrote different bytes; the weights must come from a fixed seed")
			}
			if len(a) >= 1<<20 {
				t.Errorf("model is %d bytes, want under 1 MiB", len(a))
			}
			f, err := ggml.Decode(bytes.NewReader(a), -1)
			if err != nil {
				t.Fatalf("ggml.Decode: %v", err)
			}
			kv := f.KV()
			if got := kv.Uint("embedding_length"); got != HiddenSize {
				t.Errorf("embedding_length = %d, want %d", got, HiddenSize)
			}
			if got := kv.Uint("block_count"); got != Layers {
				t.Errorf("block_count = %d, want %d", got, Layers)
			}
			vocab := len(kv.Strings("tokenizer.ggml.tokens"))
			if vocab < 100 || vocab > 500 {
				t.Errorf("vocabulary has %d tokens, want one or a few hundred", vocab)
			}
			t.Logf("%s: %d bytes, %d tokens", kind, len(a), vocab)
		})
	}
}

func TestGGUFUnknownKind(t *testing.T) {
	if _, err := GGUF(Kind(0)); err == nil {
		t.Fatal("GGUF(Kind(0)) succeeded, want an error")
	}
}

func TestLlamaVocabCoversWhatPromptsNeed(t *testing.T) {
	tokens, types, merges := llamaVocab()
	if len(tokens) != len(types) {
		t.Fatalf("%d tokens but %d types", len(tokens), len(types))
	}
	have := make(map[string]bool, len(tokens))
	for _, tok := range tokens {
		if have[tok] {
			t.Errorf("token %q appears twice", tok)
		}
		have[tok] = true
	}
	// llama.cpp looks up a token for every byte (newline included) and
	// fails to load the model when one is missing.
	for b, r := range byteRunes() {
		if !have[string(r)] {
			t.Errorf("no token for byte %#x", b)
		}
	}
	for _, s := range []string{"[", "]", "0", "9", "a", "Z", ".", ",", "?", "Ġ", "Ċ"} {
		if !have[s] {
			t.Errorf("no token %q", s)
		}
	}
	for _, m := range merges {
		l, r, ok := bytes.Cut([]byte(m), []byte(" "))
		if !ok || !have[string(l)] || !have[string(r)] || !have[string(l)+string(r)] {
			t.Errorf("merge %q does not join two tokens into a third", m)
		}
	}
}

// TestNoTokenPredictsItself runs the generation model in Go on a context of
// one token, where attention attends only to that token, so the forward pass
// is exact. A token predicting itself would make the server loop and end
// its stream without a final message.
func TestNoTokenPredictsItself(t *testing.T) {
	_, ts := llamaModel()
	m := loadF32(t, ts)
	tokens, _, _ := llamaVocab()
	n, h := len(tokens), HiddenSize

	predict := func(tok int) int {
		x := slices.Clone(m["token_embd.weight"][tok*h : (tok+1)*h])
		for l := range Layers {
			p := fmt.Sprintf("blk.%d.", l)
			a := rmsNorm(x, m[p+"attn_norm.weight"])
			// One position: softmax over a single key is 1, so attention
			// returns the value projection unchanged.
			v := matVec(m[p+"attn_v.weight"], a, h, h)
			add(x, matVec(m[p+"attn_output.weight"], v, h, h))
			f := rmsNorm(x, m[p+"ffn_norm.weight"])
			g := matVec(m[p+"ffn_gate.weight"], f, h, genFFN)
			u := matVec(m[p+"ffn_up.weight"], f, h, genFFN)
			for i := range g {
				g[i] = g[i] / float32(1+math.Exp(-float64(g[i]))) * u[i]
			}
			add(x, matVec(m[p+"ffn_down.weight"], g, genFFN, h))
		}
		logits := matVec(m["output.weight"], rmsNorm(x, m["output_norm.weight"]), h, n)
		best := 0
		for i, v := range logits {
			if v > logits[best] {
				best = i
			}
		}
		return best
	}

	for tok := range n {
		if got := predict(tok); got == tok {
			t.Errorf("token %d %q predicts itself", tok, tokens[tok])
		}
	}

	// From a token outside the answer (the template ends every prompt with
	// a newline, "Ċ"), greedy decoding spells GenAnswer, then stops.
	id := slices.Index(tokens, "Ċ")
	var got []string
	for range len(answerTokens) + 1 {
		id = predict(id)
		if id == genEOS {
			break
		}
		got = append(got, tokens[id])
	}
	if !slices.Equal(got, answerTokens) {
		t.Errorf("greedy decoding gives %q, want %q then end of sequence", got, answerTokens)
	}
}

func TestBertVocabHasSpecialsAndLetters(t *testing.T) {
	tokens, types := bertVocab()
	if len(tokens) != len(types) {
		t.Fatalf("%d tokens but %d types", len(tokens), len(types))
	}
	for _, s := range []string{"[UNK]", "[CLS]", "[SEP]", "▁edge", "▁a", "a", "▁[", "▁]", "▁.", "▁7", "7"} {
		if !slices.Contains(tokens, s) {
			t.Errorf("no token %q", s)
		}
	}
}

func loadF32(t *testing.T, ts []*ggml.Tensor) map[string][]float32 {
	t.Helper()
	m := make(map[string][]float32, len(ts))
	for _, tt := range ts {
		data, ok := tt.WriterTo.(f32)
		if !ok {
			t.Fatalf("tensor %s is not F32", tt.Name)
		}
		m[tt.Name] = data
	}
	return m
}

// matVec multiplies a GGUF matrix of shape {in, out} (out rows of in values)
// by x.
func matVec(w, x []float32, in, out int) []float32 {
	y := make([]float32, out)
	for o := range out {
		var s float32
		for i, xi := range x[:in] {
			s += w[o*in+i] * xi
		}
		y[o] = s
	}
	return y
}

func rmsNorm(x, g []float32) []float32 {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	scale := float32(1 / math.Sqrt(ss/float64(len(x))+1e-5))
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = v * scale * g[i]
	}
	return y
}

func add(x, y []float32) {
	for i := range x {
		x[i] += y[i]
	}
}
