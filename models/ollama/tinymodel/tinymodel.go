// Package tinymodel writes two tiny, loadable models for a real Ollama server:
// a llama-architecture generation model and a bert-architecture embedding
// model, each a few hundred kilobytes of GGUF with weights drawn from a fixed
// seed.
//
// No model can be downloaded on the machines this project is built and tested
// on, yet the Ollama client must be tested against the real server API. These
// models are the smallest ones the server loads and runs end to end, so tests
// can exercise generation (streaming, logprobs, stop on end-of-sequence) and
// batch embedding in milliseconds. Their output is meaningless but
// deterministic: the generation model always writes GenAnswer, with a [1]
// citation, and the embedding model maps equal texts to equal 64-d unit
// vectors, texts sharing words to nearby ones.
package tinymodel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"

	"github.com/ollama/ollama/api"
	"github.com/ollama/ollama/fs/ggml"
)

// Kind selects which tiny model to write.
type Kind int

const (
	// Generation is the llama-architecture completion model.
	Generation Kind = iota + 1
	// Embedding is the bert-architecture embedding model (mean pooling).
	Embedding
)

func (k Kind) String() string {
	switch k {
	case Generation:
		return "generation"
	case Embedding:
		return "embedding"
	default:
		return fmt.Sprintf("Kind(%d)", int(k))
	}
}

// Sizes shared by both models; tests assert on them.
const (
	// HiddenSize is the width of both models, so the embedding dimension.
	HiddenSize = 64
	// Layers is the number of transformer blocks in each model.
	Layers = 2
)

// Template is the prompt template the generation model is created with. It
// shows the system prompt, then the prompt, then a newline: ending every
// prompt on the same token is what makes the model's answer independent of
// how the prompt happens to end (see llama.go).
const Template = "{{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }}\n"

// GGUF returns the GGUF file of the tiny model of the given kind. The bytes
// are the same on every call.
func GGUF(kind Kind) ([]byte, error) {
	var (
		kv      ggml.KV
		tensors []*ggml.Tensor
	)
	switch kind {
	case Generation:
		kv, tensors = llamaModel()
	case Embedding:
		kv, tensors = bertModel()
	default:
		return nil, fmt.Errorf("tinymodel: unknown kind %d; use Generation or Embedding", int(kind))
	}
	return writeGGUF(kv, tensors)
}

// writeGGUF runs ollama's own writer, so the files are exactly what the
// server expects. It insists on an *os.File (it seeks and writes tensors in
// parallel), hence the temporary file.
func writeGGUF(kv ggml.KV, tensors []*ggml.Tensor) ([]byte, error) {
	f, err := os.CreateTemp("", "edgerag-tinymodel-*.gguf")
	if err != nil {
		return nil, fmt.Errorf("tinymodel: create temporary GGUF file (is TMPDIR writable?): %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()

	if err := ggml.WriteGGUF(f, kv, tensors); err != nil {
		return nil, fmt.Errorf("tinymodel: write GGUF to %s: %w", f.Name(), err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("tinymodel: rewind %s: %w", f.Name(), err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("tinymodel: read back %s: %w", f.Name(), err)
	}
	return b, nil
}

// Install creates the tiny model of the given kind on the server behind
// client under name (for example "edgerag-tiny-gen"). It uploads the GGUF as
// a blob and creates the model from it; doing it again is harmless.
func Install(ctx context.Context, client *api.Client, name string, kind Kind) error {
	if client == nil {
		return fmt.Errorf("tinymodel: Install %q: nil client", name)
	}
	if name == "" {
		return fmt.Errorf("tinymodel: Install: empty model name")
	}
	data, err := GGUF(kind)
	if err != nil {
		return err
	}
	digest := fmt.Sprintf("sha256:%x", sha256.Sum256(data))
	if err := client.CreateBlob(ctx, digest, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("tinymodel: upload %s model blob for %q: %w", kind, name, err)
	}

	req := &api.CreateRequest{
		Model: name,
		Files: map[string]string{name + ".gguf": digest},
	}
	if kind == Generation {
		req.Template = Template
	}
	noStream := false
	req.Stream = &noStream
	if err := client.Create(ctx, req, func(api.ProgressResponse) error { return nil }); err != nil {
		return fmt.Errorf("tinymodel: create %s model %q on the server: %w", kind, name, err)
	}
	return nil
}

// f32 is a tensor's data in the little-endian F32 layout GGUF stores.
type f32 []float32

func (t f32) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, 4*len(t))
	for i, v := range t {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
	}
	n, err := w.Write(buf)
	return int64(n), err
}

// tensor describes an F32 tensor. shape is in GGUF order, fastest-varying
// dimension first: a matrix mapping n inputs to m outputs is {n, m}, stored
// as m rows of n values.
func tensor(name string, data f32, shape ...uint64) *ggml.Tensor {
	return &ggml.Tensor{Name: name, Kind: 0 /* F32 */, Shape: shape, WriterTo: data}
}

// weights draws reproducible random values. Each model gets its own seed so
// changing one model never changes the other.
type weights struct{ r *rand.Rand }

func newWeights(seed uint64) weights {
	return weights{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// normal returns n values drawn from N(0, sigma²).
func (w weights) normal(n int, sigma float64) f32 {
	v := make(f32, n)
	for i := range v {
		v[i] = float32(w.r.NormFloat64() * sigma)
	}
	return v
}

func fill(n int, x float32) f32 {
	v := make(f32, n)
	for i := range v {
		v[i] = x
	}
	return v
}
