package shardstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/edgerag/edgerag/node/shard"
)

func vec(dims int, seed float32) []float32 {
	v := make([]float32, dims)
	for i := range v {
		v[i] = seed + float32(i)/8
	}
	return v
}

// stored reads every vector of model into a map.
func stored(t *testing.T, s *Store, model string) map[shard.ChunkID][]float32 {
	t.Helper()
	out := map[shard.ChunkID][]float32{}
	err := s.Embeddings(context.Background(), model, func(id shard.ChunkID, v []float32) error {
		out[id] = slices.Clone(v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPutEmbeddingsValidates(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	a, b := shard.HashText("a"), shard.HashText("b")
	if err := s.PutEmbeddings(ctx, "m1", 4, []shard.ChunkID{a}, [][]float32{vec(4, 1)}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		model string
		dims  int
		ids   []shard.ChunkID
		vecs  [][]float32
		want  string
	}{
		{"empty model", "", 4, []shard.ChunkID{b}, [][]float32{vec(4, 0)}, "model name"},
		{"NUL in model", "m\x001", 4, []shard.ChunkID{b}, [][]float32{vec(4, 0)}, "model name"},
		{"long model", strings.Repeat("m", MaxModelLen+1), 4, []shard.ChunkID{b}, [][]float32{vec(4, 0)}, "model name"},
		{"zero dims", "m2", 0, []shard.ChunkID{b}, [][]float32{{}}, "dimension 0"},
		{"count mismatch", "m1", 4, []shard.ChunkID{a, b}, [][]float32{vec(4, 0)}, "2 ids for 1 vectors"},
		{"vector of wrong length", "m1", 4, []shard.ChunkID{b}, [][]float32{vec(3, 0)}, "has 3 dimensions, want 4"},
		{"NaN", "m1", 4, []shard.ChunkID{b}, [][]float32{{0, float32(math.NaN()), 0, 0}}, "non-finite"},
		{"Inf", "m1", 4, []shard.ChunkID{b}, [][]float32{{0, 0, float32(math.Inf(-1)), 0}}, "non-finite"},
		{"model changed dims", "m1", 8, []shard.ChunkID{b}, [][]float32{vec(8, 0)}, "have 4 dimensions, these 8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.PutEmbeddings(ctx, tc.model, tc.dims, tc.ids, tc.vecs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
	// Nothing of the failed puts was stored: one transaction each.
	if got := stored(t, s, "m1"); len(got) != 1 {
		t.Errorf("after failed puts m1 holds %d vectors, want 1", len(got))
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.PutEmbeddings(cancelled, "m1", 4, []shard.ChunkID{b}, [][]float32{vec(4, 0)}); !errors.Is(err, context.Canceled) {
		t.Errorf("put with a cancelled context: %v", err)
	}
}

func TestEmbeddingsRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	ids := make([]shard.ChunkID, 50)
	vecs := make([][]float32, len(ids))
	for i := range ids {
		ids[i] = shard.HashText(fmt.Sprint("chunk ", i))
		vecs[i] = vec(16, float32(i))
	}
	if err := s.PutEmbeddings(ctx, "ollama/a:latest@1", 16, ids, vecs); err != nil {
		t.Fatal(err)
	}
	// A model whose name extends the first must not show in its scan.
	if err := s.PutEmbeddings(ctx, "ollama/a:latest@12", 2, ids[:1], [][]float32{{1, 2}}); err != nil {
		t.Fatal(err)
	}
	// Replacing a vector keeps one per chunk.
	vecs[3] = vec(16, -7)
	if err := s.PutEmbeddings(ctx, "ollama/a:latest@1", 16, ids[3:4], vecs[3:4]); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir)
	defer s.Close()
	got := stored(t, s, "ollama/a:latest@1")
	if len(got) != len(ids) {
		t.Fatalf("%d vectors after reopen, want %d", len(got), len(ids))
	}
	for i, id := range ids {
		if !slices.Equal(got[id], vecs[i]) {
			t.Fatalf("vector %d = %v, want %v", i, got[id], vecs[i])
		}
	}
	if got := stored(t, s, "ollama/a:latest@12"); len(got) != 1 || !slices.Equal(got[ids[0]], []float32{1, 2}) {
		t.Errorf("second model: %v", got)
	}
	if got := stored(t, s, "never-used"); len(got) != 0 {
		t.Errorf("unknown model streamed %d vectors", len(got))
	}

	m, err := s.EmbeddingModel(ctx, "ollama/a:latest@1")
	if err != nil || m.Dims != 16 || m.Complete || m.Created.IsZero() || m.Model != "ollama/a:latest@1" {
		t.Fatalf("model record: %+v %v", m, err)
	}
	if _, err := s.EmbeddingModel(ctx, "never-used"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown model record: %v", err)
	}

	// Point lookups skip what is missing and report indexes into ids.
	missing := shard.HashText("not embedded")
	var found []int
	err = s.EmbeddingsFor(ctx, "ollama/a:latest@1", []shard.ChunkID{ids[7], missing, ids[3]}, func(i int, v []float32) error {
		found = append(found, i)
		want := map[int][]float32{0: vecs[7], 2: vecs[3]}[i]
		if !slices.Equal(v, want) {
			t.Errorf("lookup %d = %v, want %v", i, v, want)
		}
		return nil
	})
	if err != nil || !slices.Equal(found, []int{0, 2}) {
		t.Errorf("EmbeddingsFor found %v, %v; want [0 2]", found, err)
	}

	// An error from the callback stops the stream and comes back.
	stop := errors.New("stop")
	calls := 0
	err = s.Embeddings(ctx, "ollama/a:latest@1", func(shard.ChunkID, []float32) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("callback error: %v after %d calls", err, calls)
	}
}

func TestEmbeddingModelRecords(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	id := shard.HashText("x")
	for _, m := range []string{"b", "a"} {
		if err := s.PutEmbeddings(ctx, m, 3, []shard.ChunkID{id}, [][]float32{{1, 0, 0}}); err != nil {
			t.Fatal(err)
		}
	}
	m, err := s.EmbeddingModel(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	created := m.Created
	m.Complete = true
	if err := s.SetEmbeddingModel(ctx, m); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		meta EmbeddingMeta
		want string
	}{
		{"dims contradict vectors", EmbeddingMeta{Model: "a", Dims: 4}, "stored vectors have 3 dimensions"},
		{"no dims", EmbeddingMeta{Model: "a"}, "dimension 0"},
		{"bad name", EmbeddingMeta{Model: "", Dims: 3}, "model name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.SetEmbeddingModel(ctx, tc.meta); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
	// A record without a creation time keeps the stored one.
	if err := s.SetEmbeddingModel(ctx, EmbeddingMeta{Model: "a", Dims: 3, Complete: true}); err != nil {
		t.Fatal(err)
	}
	all, err := s.EmbeddingModels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Model != "a" || !all[0].Complete || !all[0].Created.Equal(created) || all[1].Model != "b" || all[1].Complete {
		t.Fatalf("models: %+v", all)
	}
	// Storing more vectors leaves a complete record complete.
	if err := s.PutEmbeddings(ctx, "a", 3, []shard.ChunkID{shard.HashText("y")}, [][]float32{{0, 1, 0}}); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.EmbeddingModel(ctx, "a"); !m.Complete {
		t.Errorf("put cleared Complete: %+v", m)
	}
}

func TestDeleteEmbeddings(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	// More than one delete batch.
	n := embDeleteBatch + 10
	ids := make([]shard.ChunkID, n)
	vecs := make([][]float32, n)
	for i := range ids {
		ids[i] = shard.HashText(fmt.Sprint(i))
		vecs[i] = []float32{float32(i), 1}
	}
	for start := 0; start < n; start += 2000 {
		end := min(start+2000, n)
		if err := s.PutEmbeddings(ctx, "old", 2, ids[start:end], vecs[start:end]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutEmbeddings(ctx, "new", 2, ids[:5], vecs[:5]); err != nil {
		t.Fatal(err)
	}
	if err := s.SetEmbeddingModel(ctx, EmbeddingMeta{Model: "old", Dims: 2, Complete: true}); err != nil {
		t.Fatal(err)
	}
	deleted, err := s.DeleteEmbeddings(ctx, "old")
	if err != nil || deleted != n {
		t.Fatalf("deleted %d, %v; want %d", deleted, err, n)
	}
	if got := stored(t, s, "old"); len(got) != 0 {
		t.Errorf("%d vectors of the deleted model remain", len(got))
	}
	if _, err := s.EmbeddingModel(ctx, "old"); !errors.Is(err, ErrNotFound) {
		t.Errorf("record of the deleted model: %v", err)
	}
	if got := stored(t, s, "new"); len(got) != 5 {
		t.Errorf("the other model lost vectors: %d left", len(got))
	}
	// Deleting what is not there is not an error.
	if deleted, err := s.DeleteEmbeddings(ctx, "old"); err != nil || deleted != 0 {
		t.Errorf("second delete: %d, %v", deleted, err)
	}
}

func TestPruneEmbeddings(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	load(t, s)
	if _, err := s.Apply(ctx, Write{Shard: "x", Puts: []DocWrite{docWrite("a", "kept text", "dropped text")}}); err != nil {
		t.Fatal(err)
	}
	kept, dropped, never := shard.HashText("kept text"), shard.HashText("dropped text"), shard.HashText("never stored")
	if err := s.PutEmbeddings(ctx, "m", 2, []shard.ChunkID{kept, dropped, never}, [][]float32{{1, 0}, {0, 1}, {1, 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, Write{Shard: "x", Puts: []DocWrite{docWrite("a", "kept text")}}); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneEmbeddings(ctx, "m")
	if err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want 2", n, err)
	}
	got := stored(t, s, "m")
	if _, ok := got[kept]; !ok || len(got) != 1 {
		t.Errorf("after prune: %v", got)
	}
}

func TestDecodeEmbeddingRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, {1}, {1, 2, 3}, {1, 2, 3, 4, 5}} {
		if _, err := decodeEmbedding(b, nil); err == nil {
			t.Errorf("decoded %d bytes", len(b))
		}
	}
	v, err := decodeEmbedding(appendEmbedding(nil, []float32{1.5, -2, 0}), nil)
	if err != nil || !slices.Equal(v, []float32{1.5, -2, 0}) {
		t.Errorf("round trip: %v %v", v, err)
	}
}
