package membership

import (
	"fmt"
	"strings"
	"testing"
)

func TestTermFilter(t *testing.T) {
	const n = 5000
	f := NewTermFilter(n, maxFilterBytes)
	for i := range n {
		f.Add(fmt.Sprintf("term%d", i))
	}
	for i := range n {
		if !f.Has(fmt.Sprintf("term%d", i)) {
			t.Fatalf("false negative for term%d", i)
		}
	}
	fp := 0
	for i := range 20000 {
		if f.Has(fmt.Sprintf("other%d", i)) {
			fp++
		}
	}
	if rate := float64(fp) / 20000; rate > 0.02 {
		t.Errorf("false-positive rate %.3f; want about 0.01 at 10 bits a term", rate)
	}
	// A filter squeezed below its size still never misses a term.
	small := NewTermFilter(n, 100)
	if len(small.Bits) != 100 {
		t.Fatalf("capped filter is %d bytes", len(small.Bits))
	}
	small.Add("pump")
	if !small.Has("pump") {
		t.Error("false negative in a small filter")
	}
	if (TermFilter{}).Has("x") {
		t.Error("empty filter holds a term")
	}
}

func TestShardListTermFilters(t *testing.T) {
	f := NewTermFilter(10, 1024)
	f.Add("pump")
	l := ShardList{Node: "e1", Shards: []ShardVersion{{"pumps", 1}}, Terms: map[string]TermFilter{"pumps": f}}
	b, err := EncodeShardList(l)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeShardList(b)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Terms["pumps"].Has("pump") {
		t.Error("filter lost in the round trip")
	}
	d := ShardDigest(l.Shards)
	bad := []struct{ name, body, want string }{
		{"filter for an unlisted shard", `{"digest":"` + d + `","shards":[{"name":"pumps","version":1}],"terms":{"other":{"k":7,"bits":"` + strings.Repeat("A", 88) + `"}}}`, "does not list"},
		{"zero hashes", `{"digest":"` + d + `","shards":[{"name":"pumps","version":1}],"terms":{"pumps":{"k":0,"bits":"` + strings.Repeat("A", 88) + `"}}}`, "hashes"},
		{"tiny filter", `{"digest":"` + d + `","shards":[{"name":"pumps","version":1}],"terms":{"pumps":{"k":7,"bits":"AAAA"}}}`, "bytes"},
	}
	for _, c := range bad {
		if _, err := DecodeShardList([]byte(c.body)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v; want %q", c.name, err, c.want)
		}
	}
}
