// Package models defines how a node talks to language models: the small
// interfaces an embedder and a generator implement, and the types that cross
// them. It holds no implementation and does no I/O; the Ollama client lives in
// models/ollama and the embedded default (extractive answers) in
// models/extractive. Any package may import it.
package models

import (
	"context"
	"errors"
)

// Modes name how an answer was produced. Clients see them in every response,
// so they are part of the API and never change meaning.
const (
	ModeExtractive = "extractive" // sentences copied from retrieved chunks
	ModeGenerative = "generative" // written by a language model from retrieved chunks
)

// ErrUnavailable reports that a model backend cannot serve right now (server
// down, model missing). Callers fall back to the embedded default on it.
var ErrUnavailable = errors.New("model backend unavailable")

// Passage is one retrieved chunk handed to an answerer, numbered for citation.
type Passage struct {
	N          int     // 1-based citation number, shown as [N]
	ChunkID    string  // content hash of the chunk
	DocumentID string  // document the chunk came from
	Title      string  // document title
	Source     string  // source URI of the document
	Text       string  // chunk text
	Score      float64 // retrieval score (higher is better)
	// Trust is the passage's trust level (central, local or untrusted)
	// and Flags what the injection screen found in it; Text then no
	// longer holds the flagged sentences. Generators show both, so a
	// model can prefer the trusted side of a disagreement.
	Trust string
	Flags []string
}

// Answer is what an answerer returns for one question.
type Answer struct {
	Text string // answer text with [n] citation marks
	Mode string // ModeExtractive or ModeGenerative
	// Cited lists the citation numbers the text uses, ascending, each once.
	Cited []int
	// Signals are named scores in [0,1] that the answerer measured about its
	// own answer (for example coverage of the question, token probability
	// quantiles). They feed the confidence computation.
	Signals map[string]float64
	// Abstained is true when the answerer decided the passages do not answer
	// the question; Text then says so.
	Abstained bool
	// InvalidCitations counts [n] marks the model wrote for passages it was
	// not given; they are removed from Text.
	InvalidCitations int
}

// Embedder turns texts into vectors.
type Embedder interface {
	// Embed returns one vector per input text, in order. All vectors have
	// the same length for one model.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	// Model names the embedding model, with the version that made it, so
	// stored vectors can be tied to the model that produced them.
	Model() string
}

// Token is one generated piece of text with its log probability, when the
// backend reports one (HasLogprob).
type Token struct {
	Text       string
	Logprob    float64
	HasLogprob bool
}

// GenerateRequest asks a generator to answer a question from passages.
type GenerateRequest struct {
	Question string
	Passages []Passage
}

// Generator writes answers grounded in passages. Generate streams tokens to
// onToken as they arrive (onToken may be nil) and returns the whole answer.
type Generator interface {
	Generate(ctx context.Context, req GenerateRequest, onToken func(Token) error) (Answer, []Token, error)
	Model() string
}
