package shardstore

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/shard"
)

// TestDropShardKeepsSharedTexts: dropping one version's key space leaves
// chunk texts another shard still uses, and removes the rest.
func TestDropShardKeepsSharedTexts(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	load(t, s)
	now := time.Unix(2, 0)
	if _, err := s.Apply(ctx, Write{Shard: "m@1", Now: now, Puts: []DocWrite{docWrite("a", "shared text", "only in one")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, Write{Shard: "m@2", Now: now, Puts: []DocWrite{docWrite("a", "shared text", "only in two")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DropShard(ctx, "m@1", now); err != nil {
		t.Fatal(err)
	}
	names, _ := s.ShardNames(ctx)
	if !slices.Equal(names, []string{"m@2"}) {
		t.Fatalf("shards after drop: %v", names)
	}
	if _, err := s.Texts([]shard.ChunkID{shard.HashText("shared text"), shard.HashText("only in two")}); err != nil {
		t.Fatalf("a text the other version uses went with the drop: %v", err)
	}
	if _, err := s.Texts([]shard.ChunkID{shard.HashText("only in one")}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a text only the dropped version used is still there: %v", err)
	}
	var docs []string
	meta, err := s.Snapshot(ctx, "m@2", func(d DocSnapshot) error {
		docs = append(docs, d.Meta.ID+":"+d.Texts[1])
		return nil
	})
	if err != nil || meta.Version != 1 || !slices.Equal(docs, []string{"a:only in two"}) {
		t.Fatalf("snapshot: %+v %v %v", meta, docs, err)
	}
	if _, err := s.Snapshot(ctx, "m@1", func(DocSnapshot) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("snapshot of a dropped shard: %v", err)
	}
}

func TestSyncKV(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	kv := s.SyncKV()
	if err := kv.Update(ctx, []KV{{Key: "p/a", Value: []byte("1")}, {Key: "p/b", Value: []byte("2")}, {Key: "q/c", Value: []byte("3")}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := kv.Update(ctx, []KV{{Key: "p/d", Value: []byte("4")}}, []string{"p/b"}); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := kv.Scan(ctx, "p/", false, func(k string, v []byte) error { keys = append(keys, k+"="+string(v)); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{"p/a=1", "p/d=4"}) {
		t.Fatalf("scan: %v", keys)
	}
	vals, err := kv.GetMany([]string{"p/a", "p/b", "q/c"})
	if err != nil || string(vals[0]) != "1" || vals[1] != nil || string(vals[2]) != "3" {
		t.Fatalf("get many: %q %v", vals, err)
	}
	if _, err := kv.Get("p/b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted key: %v", err)
	}
	// Shard writes never touch the sync key space.
	load(t, s)
	if _, err := s.Apply(ctx, Write{Shard: "p", Now: time.Unix(3, 0), Puts: []DocWrite{docWrite("a", "x")}}); err != nil {
		t.Fatal(err)
	}
	if v, err := kv.Get("p/a"); err != nil || string(v) != "1" {
		t.Fatalf("after a shard write: %q %v", v, err)
	}
}
