package vector

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

// TestLoadCompactFile: a graph opened by mapping its file answers as the
// graph that wrote it, for node counts whose codes need padding and ones
// that do not; it keeps working as vectors are added and deleted, and the
// file it was mapped from stays as written.
func TestLoadCompactFile(t *testing.T) {
	const dim = 24
	for _, n := range []int{0, 1, 7, 64, 1029, 2100} {
		st := tempStore(t)
		x := NewCompactHNSW(Config{Dim: dim, Seed: 5}, st)
		vs := uniform(n+40, dim, 80)
		fill(t, x, seqIDs(n), vs[:n])
		for i := 0; i < n; i += 9 {
			x.Delete(uint32(i))
		}
		data := encode(t, x)
		path := filepath.Join(t.TempDir(), "graph")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		y, err := loadCompactFile(path, st, Config{})
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if n > 0 && littleEndian && runtime.GOOS != "windows" {
			m := y.mapping.data
			lo, hi := uintptr(unsafe.Pointer(&m[0])), uintptr(unsafe.Pointer(&m[len(m)-1]))
			for _, p := range []uintptr{uintptr(unsafe.Pointer(&y.codes.blocks[0][0])), uintptr(unsafe.Pointer(&y.links0.blocks[0][0]))} {
				if p < lo || p > hi {
					t.Fatalf("n=%d: codes or links were copied, not used in place", n)
				}
			}
		}
		qs := uniform(20, dim, 81)
		sameSearches(t, x, y, qs)
		// Adding links new nodes into mapped lists: the changes stay in
		// the process.
		for i := n; i < n+40; i++ {
			for _, g := range []*HNSW{x, y} {
				if err := g.Add(uint32(i), vs[i]); err != nil {
					t.Fatal(err)
				}
			}
		}
		x.Delete(uint32(n + 3))
		y.Delete(uint32(n + 3))
		sameSearches(t, x, y, qs)
		if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, data) {
			t.Fatalf("n=%d: the mapped file changed under the graph (%v)", n, err)
		}
		runtime.KeepAlive(y)
	}
}

// TestLoadCompactFileRejects: a truncated, corrupted or over-long file,
// and a vector file too short for the graph, fail with an error that names
// the file and says to rebuild.
func TestLoadCompactFileRejects(t *testing.T) {
	const n, dim = 100, 8
	st := &memStore{}
	x := NewCompactHNSW(Config{Dim: dim}, st)
	fill(t, x, seqIDs(n), uniform(n, dim, 82))
	good := encode(t, x)
	dir := t.TempDir()
	flip := bytes.Clone(good)
	flip[len(flip)/2] ^= 1
	for name, data := range map[string][]byte{
		"truncated": good[:len(good)-9],
		"flipped":   flip,
		"trailing":  fixCRC(append(bytes.Clone(good), 0, 0, 0, 0)),
		"empty":     nil,
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := loadCompactFile(path, st, Config{}); err == nil || !strings.Contains(err.Error(), "rebuild") {
			t.Errorf("%s: %v, want an error saying to rebuild", name, err)
		}
	}
	path := filepath.Join(dir, "good")
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadCompactFile(path, &memStore{b: st.b[:len(st.b)-1]}, Config{}); err == nil || !strings.Contains(err.Error(), "does not hold") {
		t.Errorf("short vector file: %v", err)
	}
	if _, err := loadCompactFile(filepath.Join(dir, "absent"), st, Config{}); err == nil {
		t.Error("a missing file loaded")
	}
}

// FuzzLoadCompactBytes: the in-place reader of a mapped graph accepts what
// the streaming reader accepts, and whatever it accepts searches and
// round-trips.
func FuzzLoadCompactBytes(f *testing.F) {
	st := &memStore{}
	for _, n := range []int{3, 20} {
		x := NewCompactHNSW(Config{Dim: 4}, st)
		fill(f, x, seqIDs(n), uniform(n, 4, 83))
		f.Add(encode(f, x))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, b := range [][]byte{data, fixCRC(data)} {
			y, err := loadCompactBytes(bytes.Clone(b), st, Config{})
			_, serr := LoadCompact(bytes.NewReader(b), st, Config{})
			// In place is the stricter: it also refuses trailing bytes.
			if err == nil && serr != nil {
				t.Fatalf("in place loaded what streaming refuses: %v", serr)
			}
			if err != nil {
				continue
			}
			checkLoadedGraph(t, y, func(b []byte) error {
				_, err := loadCompactBytes(b, st, Config{})
				return err
			})
		}
	})
}

// TestRemap: renamed ids are found under their new names, dropped ones
// not at all, and a rename onto one id keeps the later node.
func TestRemap(t *testing.T) {
	const n, dim = 200, 16
	vs := uniform(n, dim, 84)
	x := NewCompactHNSW(Config{Dim: dim, Seed: 2}, &memStore{})
	fill(t, x, seqIDs(n), vs)
	x.Remap(func(id uint32) (uint32, bool) {
		switch {
		case id%10 == 0:
			return 0, false
		case id == 7:
			return 1009, true // and 9 below: 9 is the later node
		}
		return id + 1000, true
	})
	if want := n - n/10 - 1; x.Len() != want {
		t.Fatalf("Len %d after remap, want %d", x.Len(), want)
	}
	for i, v := range vs {
		got, err := x.Search(v, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := uint32(i) + 1000
		switch {
		case i%10 == 0 || i == 7:
			if len(got) > 0 && got[0].Score > 0.999 {
				t.Errorf("vector %d still found as %d", i, got[0].ID)
			}
			continue
		}
		if len(got) != 1 || got[0].ID != want {
			t.Errorf("vector %d found as %v, want id %d", i, got, want)
		}
	}
}

// TestCodeSum: the lane-wise sum equals the byte-wise one, past the
// 64-word chunks it adds in.
func TestCodeSum(t *testing.T) {
	for _, words := range []int{0, 1, 63, 64, 65, 200} {
		ws := make([]uint64, words)
		for i := range ws {
			ws[i] = 0x7F7F7F7F7F7F7F7F
			if i%3 == 1 {
				ws[i] = 0x0102030405060708 * uint64(i%15+1)
			}
		}
		var want int32
		for _, w := range ws {
			for b := 0; b < 64; b += 8 {
				want += int32(w>>b&0xFF) - codeBias
			}
		}
		if got := codeSum(ws); got != want {
			t.Errorf("%d words: codeSum %d, want %d", words, got, want)
		}
	}
}
