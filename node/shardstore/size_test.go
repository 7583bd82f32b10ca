package shardstore

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestSizeNow: the store's size counts a write at once, not after Badger's
// once-a-minute refresh, and counts disk space used rather than the length
// of preallocated files.
func TestSizeNow(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	load(t, s)
	lsm0, vlog0 := s.Size()
	if lsm0 <= 0 {
		t.Fatalf("a new store takes %d bytes besides the value log", lsm0)
	}
	// 200 KB chunks go to the value log (values over 4 KB do). Random
	// letters, so that deflating the stored text (textcodec.go) cannot
	// shrink it much.
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	for b.Len() < 210000 {
		b.WriteByte(byte('!' + rng.IntN(90)))
	}
	big := b.String()
	if _, err := s.Apply(context.Background(), Write{Shard: "manuals", Puts: []DocWrite{docWrite("pump", big, big+" again")},
		NewTerms: []Term{{"pump", 0}}, Now: time.Unix(5, 0)}); err != nil {
		t.Fatal(err)
	}
	lsm, vlog := s.Size()
	if grown := lsm + vlog - lsm0 - vlog0; grown < int64(len(big)) {
		t.Errorf("the store grew by %d bytes after a %d-byte write", grown, 2*len(big))
	}
	// Badger maps two 64 MB value-log files and 12 MB memtables; their
	// length is not what they take.
	if lsm+vlog > 40<<20 {
		t.Errorf("size %d + %d: preallocated lengths counted", lsm, vlog)
	}
}
