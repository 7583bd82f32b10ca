package node

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/node/shardstore"
)

// readShard returns the store key space a shard's documents are read from.
func (n *Node) readShard(shardName string) (string, error) {
	if shardName == "" {
		shardName = shard.DefaultName
	}
	if err := shard.ValidName(shardName); err != nil {
		return "", errorf(ErrInvalid, "%v", err)
	}
	n.mu.RLock()
	s, ok := n.shards[shardName]
	n.mu.RUnlock()
	if !ok {
		return "", errorf(ErrNotFound, "no shard %q on this node (edgerag shards lists them)", shardName)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.storeName(shardName), nil
}

// ListDocuments implements api.DocumentService: a page of a shard's
// documents in id order, starting after the id after.
func (n *Node) ListDocuments(ctx context.Context, shardName, after string, limit int) (api.DocumentList, error) {
	ks, err := n.readShard(shardName)
	if err != nil {
		return api.DocumentList{}, err
	}
	if shardName == "" {
		shardName = shard.DefaultName
	}
	ids, err := n.store.DocIDs(ctx, ks)
	if err != nil {
		return api.DocumentList{}, err
	}
	i := sort.SearchStrings(ids, after)
	if i < len(ids) && ids[i] == after {
		i++
	}
	out := api.DocumentList{Shard: shardName, Documents: []api.DocumentInfo{}}
	for ; i < len(ids) && len(out.Documents) < limit; i++ {
		m, err := n.store.Doc(ks, ids[i])
		if errors.Is(err, shardstore.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return api.DocumentList{}, err
		}
		out.Documents = append(out.Documents, docInfo(shardName, m))
	}
	if i < len(ids) && len(out.Documents) > 0 {
		out.Next = out.Documents[len(out.Documents)-1].ID
	}
	return out, nil
}

// GetDocument implements api.DocumentService: a document with its chunks.
func (n *Node) GetDocument(_ context.Context, shardName, id string) (api.DocumentDetail, error) {
	ks, err := n.readShard(shardName)
	if err != nil {
		return api.DocumentDetail{}, err
	}
	if shardName == "" {
		shardName = shard.DefaultName
	}
	m, err := n.store.Doc(ks, id)
	if errors.Is(err, shardstore.ErrNotFound) {
		return api.DocumentDetail{}, errorf(ErrNotFound, "no document %q in shard %q (edgerag docs list --shard %s lists them)", id, shardName, shardName)
	}
	if err != nil {
		return api.DocumentDetail{}, err
	}
	ids := make([]shard.ChunkID, len(m.Chunks))
	for i, c := range m.Chunks {
		if ids[i], err = shard.ParseChunkID(c.ID); err != nil {
			return api.DocumentDetail{}, fmt.Errorf("document %q: %w", id, err)
		}
	}
	texts, err := n.store.Texts(ids)
	if err != nil {
		return api.DocumentDetail{}, err
	}
	d := api.DocumentDetail{DocumentInfo: docInfo(shardName, m), ChunkTexts: make([]api.DocumentChunk, len(m.Chunks))}
	for i, c := range m.Chunks {
		d.ChunkTexts[i] = api.DocumentChunk{Position: c.Position, Heading: c.Heading, Text: texts[i]}
	}
	return d, nil
}

func docInfo(shardName string, m shardstore.DocMeta) api.DocumentInfo {
	return api.DocumentInfo{ID: m.ID, Shard: shardName, Title: m.Title, Source: m.Source, Metadata: m.Metadata, Chunks: len(m.Chunks), IngestedAt: m.IngestedAt}
}
