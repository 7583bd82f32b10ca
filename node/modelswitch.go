package node

import (
	"errors"

	"github.com/edgerag/edgerag/models"
)

// genSlot holds the generation model SetGenerator installed; a pointer to
// it swaps atomically, so a query reads the model once and finishes on it.
type genSlot struct{ g models.Generator }

// generator returns the generation model new queries use: the last one
// SetGenerator installed, else Config.Generator (nil: extractive answers).
func (n *Node) generator() models.Generator {
	if s := n.gen.Load(); s != nil {
		return s.g
	}
	return n.cfg.Generator
}

// SetGenerator switches the node to another generation model while it
// runs (fleet sync ships a new one). Queries already generating finish on
// the old model; queries that start afterwards use g.
func (n *Node) SetGenerator(g models.Generator) error {
	if g == nil {
		return errors.New("node: SetGenerator(nil): a node answers extractively only when started without a generation model")
	}
	n.gen.Store(&genSlot{g: g})
	n.log.Info("generation model switched", "model", g.Model())
	return nil
}

// GeneratorModel names the generation model new queries use ("" when none).
func (n *Node) GeneratorModel() string {
	if g := n.generator(); g != nil {
		return g.Model()
	}
	return ""
}

// ErrNoDense reports a run-time switch of the embedding model on a node
// started without one: there is no vector index to rebuild.
var ErrNoDense = errors.New("the node runs without an embedding model (BM25 only): start it with --embed-model to switch models at run time")

// SetEmbedder switches the embedding model while the node runs: the chunks
// are embedded with emb in the background and searches keep the current
// model's vectors until the new set is complete (dense.Manager.SetEmbedder).
// Call it after Open.
func (n *Node) SetEmbedder(emb models.Embedder) error {
	if emb == nil {
		return errors.New("node: SetEmbedder(nil)")
	}
	if n.dense == nil {
		return ErrNoDense
	}
	n.dense.SetEmbedder(emb)
	return nil
}

// EmbedderModels names the embedding model searches use and the one being
// built to replace it ("" when none).
func (n *Node) EmbedderModels() (serving, next string) {
	if n.dense == nil {
		return "", ""
	}
	p := n.dense.Progress()
	if p.Next != nil {
		next = p.Next.Model
	}
	return p.Model, next
}
