package node

import (
	"context"

	"github.com/edgerag/edgerag/node/lexical"
	"github.com/edgerag/edgerag/node/shard"
)

// ChunkFilter says whether a chunk may be retrieved for the request at hand;
// access control puts one in the request's context. It runs under the
// shard's read lock for every chunk that could make the top k, so it must be
// fast and must not call back into the node: decide from the arguments (a
// set of allowed documents, say), not from stored records.
type ChunkFilter func(shardName, docID string, chunk shard.ChunkID) bool

type chunkFilterKey struct{}

// WithChunkFilter returns a context under which Search, and every query
// path built on it, retrieves only the chunks allow accepts. A nil allow
// removes any filter.
func WithChunkFilter(ctx context.Context, allow ChunkFilter) context.Context {
	return context.WithValue(ctx, chunkFilterKey{}, allow)
}

func chunkFilterFrom(ctx context.Context) ChunkFilter {
	f, _ := ctx.Value(chunkFilterKey{}).(ChunkFilter)
	return f
}

// newIndex returns an empty index whose frozen postings live in the store's
// mapped files rather than on the heap.
func (n *Node) newIndex() *lexical.Index {
	ix := lexical.New()
	if n.store != nil {
		ix.SetArena(n.store.PostingsArena())
	}
	return ix
}
