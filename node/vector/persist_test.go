package vector

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// built returns an index of each kind with deletes and a replacement, so
// that the stored form has dead nodes and moved rows to carry.
func built(t testing.TB, kind string, n, dim int) (Index, [][]float32) {
	t.Helper()
	vs := uniform(n, dim, 60)
	x := newKind(t, kind, dim)
	fill(t, x, seqIDs(n), vs)
	for i := 0; i < n; i += 7 {
		x.Delete(uint32(i))
	}
	if err := x.Add(3, vs[0]); err != nil {
		t.Fatal(err)
	}
	return x, vs
}

func encode(t testing.TB, x Index) []byte {
	t.Helper()
	var b bytes.Buffer
	n, err := x.WriteTo(&b)
	if err != nil || n != int64(b.Len()) {
		t.Fatalf("WriteTo: %d bytes reported, %d written, %v", n, b.Len(), err)
	}
	return b.Bytes()
}

// sameSearches fails unless x and y answer every query identically.
func sameSearches(t *testing.T, x, y Index, qs [][]float32) {
	t.Helper()
	for _, q := range qs {
		a, err1 := x.Search(q, 10, nil)
		b, err2 := y.Search(q, 10, nil)
		if err1 != nil || err2 != nil || !slices.Equal(a, b) {
			t.Fatalf("searches differ:\n%v %v\n%v %v", a, err1, b, err2)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	const n, dim = blockRows + 100, 16 // more than one block of rows
	qs := uniform(20, dim, 61)
	for _, kind := range searchKinds() {
		t.Run(kind, func(t *testing.T) {
			x, vs := built(t, kind, n, dim)
			data := encode(t, x)

			y, err := loadLike(x, data)
			if err != nil {
				t.Fatal(err)
			}
			if y.Kind() != kind || y.Len() != x.Len() || y.Dim() != dim {
				t.Fatalf("loaded %s with %d×%d, want %s with %d×%d", y.Kind(), y.Len(), y.Dim(), kind, x.Len(), dim)
			}
			sameSearches(t, x, y, qs)
			if again := encode(t, y); !bytes.Equal(again, data) {
				t.Fatal("re-encoding a loaded index changes it")
			}

			// ReadFrom into an index of the same kind, and trailing bytes
			// are left for the caller.
			z := newKind(t, kind, dim)
			if kind == KindHNSWInt8 { // the same vector file
				z = NewCompactHNSW(Config{Dim: dim}, x.(*HNSW).store)
			}
			r := bytes.NewReader(append(slices.Clone(data), "tail"...))
			m, err := z.ReadFrom(r)
			if err != nil || m != int64(len(data)) || r.Len() != 4 {
				t.Fatalf("ReadFrom: read %d of %d bytes, %d left, %v", m, len(data), r.Len(), err)
			}
			sameSearches(t, x, z, qs)

			// A loaded index keeps working: add, delete, search.
			for _, idx := range []Index{x, y} {
				if err := idx.Add(uint32(n+1), vs[1]); err != nil {
					t.Fatal(err)
				}
				idx.Delete(2)
			}
			sameSearches(t, x, y, qs)
		})
	}
}

func TestRoundTripEmpty(t *testing.T) {
	for _, kind := range searchKinds() {
		x := newKind(t, kind, 5)
		y, err := loadLike(x, encode(t, x))
		if err != nil || y.Len() != 0 {
			t.Fatalf("%s: empty round trip: %v", kind, err)
		}
		if err := y.Add(1, []float32{1, 2, 3, 4, 5}); err != nil {
			t.Fatal(err)
		}
		if got, _ := y.Search([]float32{1, 2, 3, 4, 5}, 1, nil); len(got) != 1 || got[0].ID != 1 {
			t.Fatalf("%s: after loading empty and adding: %v", kind, got)
		}
	}
}

// fixCRC rewrites the trailing checksum to match the rest of b, so that a
// test reaches the validation behind it.
func fixCRC(b []byte) []byte {
	if len(b) < 4 {
		return b
	}
	b = slices.Clone(b)
	crc := crc32.Checksum(b[:len(b)-4], crc32.MakeTable(crc32.Castagnoli))
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc)
	return b
}

func TestReadRejects(t *testing.T) {
	x, _ := built(t, KindHNSW, 100, 8)
	good := encode(t, x)
	flat, _ := built(t, KindExact, 10, 8)
	goodFlat := encode(t, flat)
	set := func(b []byte, off int, v uint32) []byte {
		b = slices.Clone(b)
		binary.LittleEndian.PutUint32(b[off:], v)
		return fixCRC(b)
	}
	// Offsets in the HNSW header: dim 8, nodes 12, M 16, entry 36, top 40,
	// upper words 44; ids start at 48.
	n := int(binary.LittleEndian.Uint32(good[12:]))
	links0 := 48 + 4*n + n + 8*((n+63)/64) + 4*8*n
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"not an index", []byte("hello, world, this is text"), "not a vector index"},
		{"future version", fixCRC(append([]byte("EGVI\x09\x00"), good[6:]...)), "version 9"},
		{"unknown kind", fixCRC(append([]byte("EGVI\x01\x00\x07"), good[7:]...)), "kind code 7"},
		{"zero dimension", set(good, 8, 0), "dimension 0"},
		{"too many nodes", set(good, 12, MaxLen+1), "claims"},
		{"forged node count", set(good, 12, 1<<25), "truncated"},
		{"truncated", good[:len(good)/2], "truncated"},
		{"flipped bit", flip(good, len(good)/2), "checksum"},
		{"bad M", set(good, 16, 1), "M=1"},
		{"entry out of range", set(good, 36, 1000), "entry node"},
		{"top too high", set(good, 40, 99), "top level"},
		{"level without upper lists", raiseLevel(t, good, n), "upper lists hold"},
		{"link out of range", set(good, links0+4, 5000), "links to 5000"},
		{"too many links", set(good, links0, 999), "999 links"},
		{"duplicate id", set(goodFlat, 20, binary.LittleEndian.Uint32(goodFlat[16:])), "twice"},
		{"NaN component", set(goodFlat, 16+4*10, 0x7FC00000), "non-finite"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(bytes.NewReader(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error %v, want one mentioning %q", err, tt.want)
			}
		})
	}

	t.Run("wrong kind or dimension leaves the index alone", func(t *testing.T) {
		y := NewExact(8)
		fill(t, y, []uint32{1}, [][]float32{{1, 0, 0, 0, 0, 0, 0, 0}})
		if _, err := y.ReadFrom(bytes.NewReader(good)); err == nil || !strings.Contains(err.Error(), "Load") {
			t.Fatalf("ReadFrom of an HNSW into Exact: %v", err)
		}
		z := NewHNSW(Config{Dim: 16})
		if _, err := z.ReadFrom(bytes.NewReader(good)); err == nil || !strings.Contains(err.Error(), "model changed") {
			t.Fatalf("ReadFrom of 8-d into 16-d: %v", err)
		}
		if _, err := y.ReadFrom(bytes.NewReader(flip(goodFlat, 30))); err == nil {
			t.Fatal("ReadFrom of corrupt data succeeded")
		}
		if y.Len() != 1 || z.Len() != 0 {
			t.Fatal("a failed ReadFrom changed the index")
		}
	})
}

// raiseLevel lifts a level-0 node of an encoded HNSW to level 1 without
// giving it upper lists.
func raiseLevel(t *testing.T, b []byte, n int) []byte {
	levels := b[48+4*n : 48+5*n]
	i := bytes.IndexByte(levels, 0)
	if i < 0 || binary.LittleEndian.Uint32(b[40:]) < 1 {
		t.Fatal("test graph has no level-0 node or no upper layer")
	}
	b = slices.Clone(b)
	b[48+4*n+i] = 1
	return fixCRC(b)
}

func flip(b []byte, i int) []byte {
	b = slices.Clone(b)
	b[i] ^= 0x10
	return b
}

// TestForgedLengthsAllocateLittle: a header may claim anything; memory is
// only committed as the bytes backing it arrive.
func TestForgedLengthsAllocateLittle(t *testing.T) {
	var hdr []byte
	hdr = append(hdr, "EGVI"...)
	hdr = binary.LittleEndian.AppendUint16(hdr, version)
	hdr = append(hdr, kindCode(KindHNSW), 0)
	hdr = binary.LittleEndian.AppendUint32(hdr, MaxDim)
	hdr = binary.LittleEndian.AppendUint32(hdr, MaxLen)
	// M, efConstruction, efSearch, seed (two words), entry, top, upper words
	for _, v := range []uint32{maxM, 10, 10, 0, 0, 0, maxLevel, 1<<32 - 1} {
		hdr = binary.LittleEndian.AppendUint32(hdr, v)
	}
	hdr = append(hdr, make([]byte, 1000)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Load(bytes.NewReader(hdr))
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("forged header loaded")
	}
	if a := after.TotalAlloc - before.TotalAlloc; a > 16<<20 {
		t.Fatalf("loading a forged header allocated %d MB", a>>20)
	}
}

// FuzzLoad feeds Load arbitrary bytes, and the same bytes with a valid
// checksum so that mutations reach the checks behind it. Whatever loads
// must search without panicking and survive another round trip.
func FuzzLoad(f *testing.F) {
	for _, kind := range allKinds() {
		x, _ := built(f, kind, 20, 4)
		f.Add(encode(f, x))
	}
	f.Add([]byte("EGVI"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, b := range [][]byte{data, fixCRC(data)} {
			x, err := Load(bytes.NewReader(b))
			if err != nil {
				continue
			}
			q := make([]float32, x.Dim())
			q[0] = 1
			if _, err := x.Search(q, 5, nil); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if _, err := x.WriteTo(&out); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(&out); err != nil {
				t.Fatalf("re-loading a loaded index: %v", err)
			}
		}
	})
}
