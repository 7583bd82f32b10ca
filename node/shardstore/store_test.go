package shardstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/lexical"
	"github.com/edgerag/edgerag/node/shard"
)

func docWrite(id string, texts ...string) DocWrite {
	d := DocWrite{Meta: DocMeta{ID: id, Title: "title " + id, IngestedAt: time.Unix(1, 0).UTC()}}
	for i, t := range texts {
		cid := shard.HashText(t)
		d.Meta.Chunks = append(d.Meta.Chunks, ChunkMeta{ID: cid.String(), Position: i})
		d.Texts = append(d.Texts, t)
		d.Vectors = append(d.Vectors, lexical.Chunk{ID: cid, Position: i, Length: 3, Terms: []lexical.TermFreq{{Term: 2, TF: 1}, {Term: 0, TF: 2}}})
	}
	return d
}

type loaded struct {
	terms  map[string]uint32
	shards map[string]ShardMeta
	docs   map[string][]lexical.Chunk
}

func load(t *testing.T, s *Store) loaded {
	t.Helper()
	l := loaded{terms: map[string]uint32{}, shards: map[string]ShardMeta{}, docs: map[string][]lexical.Chunk{}}
	err := s.Load(context.Background(),
		func(tm Term) { l.terms[tm.Term] = tm.ID },
		func(m ShardMeta) { l.shards[m.Name] = m },
		func(sh, id string, cs []lexical.Chunk) error {
			cp := make([]lexical.Chunk, len(cs))
			for i, c := range cs {
				c.Terms = append([]lexical.TermFreq(nil), c.Terms...)
				cp[i] = c
			}
			l.docs[sh+"/"+id] = cp
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(Options{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestApplyLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, dir)
	load(t, s)
	res, err := s.Apply(ctx, Write{Shard: "manuals", Puts: []DocWrite{docWrite("pump", "reset the pump", "replace the seal")},
		NewTerms: []Term{{"pump", 0}, {"seal", 1}, {"reset", 2}}, Now: time.Unix(5, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != 1 || len(res.Removed) != 0 {
		t.Fatalf("first write: %+v", res)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir)
	defer s.Close()
	l := load(t, s)
	if l.terms["seal"] != 1 || len(l.terms) != 3 {
		t.Errorf("terms after reopen: %v", l.terms)
	}
	if m := l.shards["manuals"]; m.Version != 1 {
		t.Errorf("shard after reopen: %+v", m)
	}
	cs := l.docs["manuals/pump"]
	if len(cs) != 2 || cs[1].Position != 1 || len(cs[0].Terms) != 2 || cs[0].Terms[0] != (lexical.TermFreq{Term: 0, TF: 2}) {
		t.Fatalf("vectors after reopen: %+v", cs)
	}
	m, err := s.Doc("manuals", "pump")
	if err != nil || m.Title != "title pump" || len(m.Chunks) != 2 {
		t.Fatalf("doc: %+v %v", m, err)
	}
	texts, err := s.Texts([]shard.ChunkID{shard.HashText("replace the seal")})
	if err != nil || texts[0] != "replace the seal" {
		t.Fatalf("texts: %q %v", texts, err)
	}
}

func TestReplaceAndDeleteReleaseTexts(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	load(t, s)
	shared := "a sentence both documents contain"
	if _, err := s.Apply(ctx, Write{Shard: "x", Puts: []DocWrite{docWrite("a", shared, "only in a"), docWrite("b", shared)}}); err != nil {
		t.Fatal(err)
	}
	// Replacing a drops its old chunk text that nobody else uses.
	res, err := s.Apply(ctx, Write{Shard: "x", Puts: []DocWrite{docWrite("a", "new text of a")}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != 2 || len(res.Removed["a"]) != 2 {
		t.Fatalf("replace: %+v", res)
	}
	if _, err := s.Texts([]shard.ChunkID{shard.HashText("only in a")}); !errors.Is(err, ErrNotFound) {
		t.Errorf("text only a used survived its replacement: %v", err)
	}
	if _, err := s.Texts([]shard.ChunkID{shard.HashText(shared)}); err != nil {
		t.Errorf("text b still uses was deleted: %v", err)
	}
	res, err = s.Apply(ctx, Write{Shard: "x", Deletes: []string{"b", "nope"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Missing) != 1 || res.Missing[0] != "nope" {
		t.Errorf("missing = %v", res.Missing)
	}
	if _, err := s.Texts([]shard.ChunkID{shard.HashText(shared)}); !errors.Is(err, ErrNotFound) {
		t.Errorf("text survived the last document using it: %v", err)
	}
	if _, err := s.Doc("x", "b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted document still readable: %v", err)
	}
}

// A store opened with LoadMeta alone (a node starting from its index
// snapshots) counts chunk references on its first write, so shared texts
// are kept exactly as long as a document uses them.
func TestApplyWithoutLoadCountsReferences(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, dir)
	load(t, s)
	const shared = "shared text"
	if _, err := s.Apply(ctx, Write{Shard: "x", Puts: []DocWrite{docWrite("a", shared), docWrite("b", shared)}}); err != nil {
		t.Fatal(err)
	}
	must(t, s.Close())
	s = open(t, dir)
	defer s.Close()
	shards := 0
	must(t, s.LoadMeta(ctx, func(Term) {}, func(ShardMeta) { shards++ }))
	if shards != 1 {
		t.Fatalf("LoadMeta saw %d shards, want 1", shards)
	}
	if _, err := s.Apply(ctx, Write{Shard: "x", Deletes: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Texts([]shard.ChunkID{shard.HashText(shared)}); err != nil {
		t.Fatalf("text still used by b was deleted: %v", err)
	}
	if _, err := s.Apply(ctx, Write{Shard: "x", Deletes: []string{"b"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Texts([]shard.ChunkID{shard.HashText(shared)}); !errors.Is(err, ErrNotFound) {
		t.Errorf("text outlived its last document: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestDecodeVectorsRejectsGarbage(t *testing.T) {
	good := appendVectors(nil, []lexical.Chunk{{Position: 1, Length: 4, Terms: []lexical.TermFreq{{Term: 9, TF: 1}}}})
	for i := range good {
		if _, _, err := decodeVectors(good[:i], nil, nil); err == nil {
			t.Errorf("truncated record of %d bytes accepted", i)
		}
	}
}

func FuzzDecodeVectors(f *testing.F) {
	f.Add(appendVectors(nil, []lexical.Chunk{{Position: 1, Length: 4, Terms: []lexical.TermFreq{{Term: 9, TF: 1}, {Term: 3, TF: 2}}}}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, _, err := decodeVectors(b, nil, nil)
		if err != nil {
			return
		}
		again, _, err := decodeVectors(appendVectors(nil, cs), nil, nil)
		if err != nil || len(again) != len(cs) {
			t.Fatalf("re-encoding a decoded record failed: %v", err)
		}
	})
}
