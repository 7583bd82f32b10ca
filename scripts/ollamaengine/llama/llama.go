// Package llama stands in for Ollama's cgo binding of llama.cpp
// (github.com/ollama/ollama/llama) when scripts/ollama-server.sh builds the
// Ollama server for the tests: it copies this file over the package, so that
// the ~150 C++ files of llama.cpp — about 70 % of the build's CPU time — are
// not compiled. The tests' tiny llama and bert models run on Ollama's own
// engine (ollamarunner, on ggml), which the patched build always chooses;
// what only llama.cpp did — the legacy runner, a vocabulary for models the
// new engine cannot load, grammars for "format" — fails with errNoLlamaCpp.
//
// The names and signatures are the ones Ollama v0.24.0's llm and sample
// packages call; nothing in edgerag imports this package.
package llama

import "errors"

var errNoLlamaCpp = errors.New("this Ollama was built for edgerag's tests without llama.cpp: only models of Ollama's own engine load, and \"format\" (grammars) is not supported")

// ModelParams mirrors the fields Ollama's llm package sets.
type ModelParams struct {
	NumGpuLayers int
	MainGpu      int
	UseMmap      bool
	VocabOnly    bool
}

// Model is never created: LoadModelFromFile always fails.
type Model struct{}

// LoadModelFromFile fails: the server then reports the model unsupported.
func LoadModelFromFile(modelPath string, params ModelParams) (*Model, error) {
	return nil, errNoLlamaCpp
}

// FreeModel does nothing; there is never a model to free.
func FreeModel(*Model) {}

// Tokenize fails; it is unreachable because no Model exists.
func (m *Model) Tokenize(text string, addSpecial, parseSpecial bool) ([]int, error) {
	return nil, errNoLlamaCpp
}

// TokenToPiece is unreachable because no Model exists.
func (m *Model) TokenToPiece(token int) string { return "" }

// SchemaToGrammar returns nil, which the server reports as an invalid
// schema: JSON-schema output needs llama.cpp's grammar engine.
func SchemaToGrammar(schema []byte) []byte { return nil }

// TokenData is one candidate token for a grammar to filter.
type TokenData struct {
	ID    int32
	Logit float32
}

// Grammar is never created: NewGrammar always returns nil, which the
// sampler reports as a grammar it cannot initialise.
type Grammar struct{}

// NewGrammar returns nil: grammars need llama.cpp.
func NewGrammar(grammar string, vocabIds []uint32, vocabValues []string, eogTokens []int32) *Grammar {
	return nil
}

// Apply is unreachable because no Grammar exists.
func (g *Grammar) Apply(tokens []TokenData) {}

// Accept is unreachable because no Grammar exists.
func (g *Grammar) Accept(token int32) {}

// Free is unreachable because no Grammar exists.
func (g *Grammar) Free() {}
