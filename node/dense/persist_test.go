package dense

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"reflect"
	"testing"

	"github.com/edgerag/edgerag/node/shard"
)

func sampleIDs() *idsFile {
	return &idsFile{
		shard: "manuals", model: "nomic-embed:v1.5", vecName: "0123-4567.99.vec",
		graphSize: 1 << 33, graphCRC: 0xDEADBEEF, dims: 384,
		vids:   []uint32{0, 7, 1 << 30},
		chunks: []shard.ChunkID{shard.HashText("a"), shard.HashText("b"), shard.HashText("c")},
	}
}

// TestIDsFileRoundTrip and its rejections: a changed byte, a cut file, a
// vector file name that leaves the directory.
func TestIDsFileRoundTrip(t *testing.T) {
	want := sampleIDs()
	b := want.marshal()
	got, err := parseIDs(b)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, want)
	}
	empty := &idsFile{shard: "s", model: "m", vecName: "x.vec", dims: 1}
	if got, err := parseIDs(empty.marshal()); err != nil || len(got.vids) != 0 {
		t.Fatalf("empty: %+v, %v", got, err)
	}
	flipped := bytes.Clone(b)
	flipped[len(flipped)/2] ^= 1
	escape := sampleIDs()
	escape.vecName = "../../etc/x.vec"
	for name, data := range map[string][]byte{
		"flipped": flipped,
		"cut":     b[:len(b)-3],
		"escape":  escape.marshal(),
		"nothing": nil,
		"magic":   []byte("EGDI"),
	} {
		if _, err := parseIDs(data); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// FuzzParseIDs: whatever parses marshals back to the same bytes.
func FuzzParseIDs(f *testing.F) {
	f.Add(sampleIDs().marshal())
	f.Add([]byte("EGDI\x01\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, b := range [][]byte{data, withCRC(data)} {
			x, err := parseIDs(b)
			if err != nil {
				continue
			}
			if again := x.marshal(); !bytes.Equal(again, b) {
				t.Fatalf("parsed %x, marshals to %x", b, again)
			}
		}
	})
}

// withCRC replaces the last four bytes with the checksum of the rest, so
// mutations reach the checks behind it.
func withCRC(b []byte) []byte {
	if len(b) < 4 {
		return b
	}
	b = bytes.Clone(b)
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
	return b
}
