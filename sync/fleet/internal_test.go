package fleet

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgerag/edgerag/sync/manifest"
)

func TestStageLogKeepsIntactEntries(t *testing.T) {
	dir := t.TempDir()
	l, err := openStage(dir, "s")
	if err != nil {
		t.Fatal(err)
	}
	recs := [][]byte{[]byte("one"), []byte("two two"), bytes.Repeat([]byte("x"), 1000)}
	for _, r := range recs {
		if err := l.append(manifest.HashOf(r), r); err != nil {
			t.Fatal(err)
		}
	}
	l.close()
	path := filepath.Join(dir, "s.stage")
	full, _ := os.ReadFile(path)
	cases := []struct {
		name string
		data []byte
		want int
	}{
		{"intact", full, 3},
		{"torn last record", full[:len(full)-10], 2},
		{"torn header", full[:len(full)-1000-stageHeader+3], 2},
		{"corrupt middle", func() []byte { b := bytes.Clone(full); b[stageHeader+1] ^= 1; return b }(), 0},
		{"garbage tail", append(bytes.Clone(full), 0xff, 0xff, 0xff), 3},
		{"empty", nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(path, c.data, 0o600); err != nil {
				t.Fatal(err)
			}
			l, err := openStage(dir, "s")
			if err != nil {
				t.Fatal(err)
			}
			defer l.close()
			if l.len() != c.want {
				t.Fatalf("%d entries kept, want %d", l.len(), c.want)
			}
			for _, r := range recs[:c.want] {
				got, err := l.get(manifest.HashOf(r))
				if err != nil || !bytes.Equal(got, r) {
					t.Fatalf("entry %q: %q %v", r, got, err)
				}
			}
			// Appends after a trimmed tail land on a clean boundary.
			extra := []byte("after reopen")
			if err := l.append(manifest.HashOf(extra), extra); err != nil {
				t.Fatal(err)
			}
			if got, _ := l.get(manifest.HashOf(extra)); !bytes.Equal(got, extra) {
				t.Fatalf("append after reopen read back %q", got)
			}
		})
	}
}

func TestSplitRecords(t *testing.T) {
	var b []byte
	for _, r := range []string{"a", "", "ccc"} {
		b = binary.AppendUvarint(b, uint64(len(r)))
		b = append(b, r...)
	}
	for _, c := range []struct {
		n    int
		data []byte
		ok   bool
	}{{3, b, true}, {2, b, false}, {4, b, false}, {3, b[:len(b)-1], false}, {0, nil, true}, {1, []byte{0xff}, false}} {
		got, err := splitRecords(c.data, c.n)
		if (err == nil) != c.ok || (c.ok && len(got) != c.n) {
			t.Errorf("splitRecords(%x, %d) = %d records, %v; want ok=%v", c.data, c.n, len(got), err, c.ok)
		}
	}
}

// FuzzSplitRecords: central's chunk response is outside input; the parser
// must not panic, must return exactly the records asked for, and they must
// lie within the response.
func FuzzSplitRecords(f *testing.F) {
	f.Add([]byte{1, 'a', 0, 3, 'c', 'c', 'c'}, uint8(3))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, n uint8) {
		recs, err := splitRecords(b, int(n))
		if err != nil {
			return
		}
		total := 0
		for _, r := range recs {
			total += len(r)
		}
		if len(recs) != int(n) || total > len(b) {
			t.Fatalf("%d records of %d bytes from %d bytes, want %d records", len(recs), total, len(b), n)
		}
	})
}
