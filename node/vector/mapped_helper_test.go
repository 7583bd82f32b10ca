package vector

import (
	"fmt"

	"github.com/edgerag/edgerag/node/mapfile"
)

// loadCompactFile maps the graph file at path and loads it in place, as
// node/dense opens a shard's saved graph.
func loadCompactFile(path string, store VectorStore, cfg Config) (*HNSW, error) {
	data, err := mapfile.OpenPrivate(path)
	if err != nil {
		return nil, fmt.Errorf("vector: open compact graph: %w: rebuild it", err)
	}
	h, err := LoadCompactMapped(data, func(b []byte) { _ = mapfile.Unmap(b) }, store, cfg)
	if err != nil {
		_ = mapfile.Unmap(data)
		return nil, err
	}
	return h, nil
}
