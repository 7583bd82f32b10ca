// Package fleetnode connects fleet sync to a node: the node as the Target
// an edge's syncer applies shard versions to, and as the Source central's
// publisher reads shards from. It is the one place where sync/fleet's types
// meet the node's, so that neither package imports the other and the fleet
// tests drive the same wiring the edgerag command runs.
package fleetnode

import (
	"context"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/shardstore"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/manifest"
)

// The store's fleet-sync key space is what fleet sync keeps its state in.
var _ fleet.KV = (*shardstore.SyncKV)(nil)

// Target lets fleet sync apply versions to n.
func Target(n *node.Node) fleet.Target { return target{n} }

// Source lets central's publisher read n's shards.
func Source(n *node.Node) fleet.Source { return source{n} }

type target struct{ n *node.Node }

func (t target) KV() fleet.KV     { return t.n.SyncKV() }
func (t target) Analyzer() string { return node.AnalyzerName }

func (t target) Pointer(name string) (fleet.Pointer, error) {
	p, err := t.n.SyncPointer(name)
	return fleet.Pointer{Current: p.Current, Previous: p.Previous, Highest: p.Highest}, err
}

func (t target) Activate(ctx context.Context, name string, v uint64, sets []shardstore.KV, deletes []string) error {
	return t.n.ActivateVersion(ctx, name, v, sets, deletes)
}

func (t target) Stage(ctx context.Context, name string, v uint64, docs func(yield func(fleet.Doc) error) error) error {
	return t.n.StageVersion(ctx, name, v, func(yield func(node.SyncDoc) error) error {
		return docs(func(d fleet.Doc) error {
			sd := node.SyncDoc{ID: d.ID, Title: d.Title, Source: d.Source, Metadata: d.Metadata}
			for _, r := range d.Chunks {
				sd.Chunks = append(sd.Chunks, node.SyncChunk{Position: r.Position, Heading: r.Heading, Text: r.Text})
			}
			return yield(sd)
		})
	})
}

type source struct{ n *node.Node }

func (s source) Snapshot(ctx context.Context, name string, fn func(fleet.Doc) error) (uint64, error) {
	meta, err := s.n.Snapshot(ctx, name, func(d shardstore.DocSnapshot) error {
		doc := fleet.Doc{ID: d.Meta.ID, Title: d.Meta.Title, Source: d.Meta.Source, Metadata: d.Meta.Metadata, Released: d.Meta.Released}
		for i, c := range d.Meta.Chunks {
			doc.Flagged = append(doc.Flagged, len(c.Flags) > 0 || len(d.Meta.Flags) > 0)
			doc.Chunks = append(doc.Chunks, manifest.Record{DocID: d.Meta.ID, Title: d.Meta.Title, Source: d.Meta.Source,
				Position: c.Position, Heading: c.Heading, Text: d.Texts[i], Metadata: d.Meta.Metadata})
		}
		return fn(doc)
	})
	return meta.Version, err
}
