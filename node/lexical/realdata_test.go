package lexical

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// textIndex indexes texts, one document of one chunk each, with terms
// numbered in order of first use, and returns the chunks as added.
type textIndex struct {
	ix  *Index
	ids map[string]uint32
	raw []Chunk
}

func newTextIndex() *textIndex { return &textIndex{ix: New(), ids: map[string]uint32{}} }

func (x *textIndex) add(t testing.TB, docID string, terms []string) {
	tfs := map[uint32]uint32{}
	for _, s := range terms {
		id, ok := x.ids[s]
		if !ok {
			id = uint32(len(x.ids))
			x.ids[s] = id
		}
		tfs[id]++
	}
	c := chunkOf(docID, tfs)
	c.Length = uint32(len(terms))
	x.raw = append(x.raw, c)
	must(t, x.ix.Add(docID, []Chunk{c}))
}

// query turns analysed terms into weighted query terms as the node does:
// idf times the count in the query, unknown terms dropped.
func (x *textIndex) query(terms []string) []QueryTerm {
	count := map[uint32]int{}
	var order []uint32
	for _, s := range terms {
		id, ok := x.ids[s]
		if !ok {
			continue
		}
		if count[id] == 0 {
			order = append(order, id)
		}
		count[id]++
	}
	var q []QueryTerm
	for i, id := range order {
		w := IDF(uint64(x.ix.Live()), uint64(x.ix.DF(id))) * float64(count[id])
		q = append(q, QueryTerm{ID: id, Weight: float32(w), Bit: uint8(min(i, 63))})
	}
	return q
}

// evalDir is the shared evaluation sets' directory, or "" when this
// checkout has none beside it.
func evalDir() string {
	if d := os.Getenv("EDGERAG_EVAL_DIR"); d != "" {
		return d
	}
	for _, d := range []string{"../../../shared/eval", "../../shared/eval"} {
		if _, err := os.Stat(filepath.Join(d, "cranfield", "corpus.jsonl")); err == nil {
			return d
		}
	}
	return ""
}

func readJSONLines(t testing.TB, path string, fn func(map[string]string)) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		s := map[string]string{}
		for k, v := range m {
			if str, ok := v.(string); ok {
				s[k] = str
			}
		}
		fn(s)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append(b, byte('0'+i%10))
	}
	slices.Reverse(b)
	return string(b)
}

// BenchmarkSearchBenchPeers answers the questions of a bench-peers corpus
// (scripts/bench-peers.sh exports DIR/chunks.txt, one chunk's analysed
// terms a line, and DIR/queries.txt) from an index of its chunks. Point
// EDGERAG_BENCH_CORPUS at DIR (~/.cache/edgerag/bench-peers/100000); it
// skips without. Building the index takes ~15 s of CPU at 100k chunks.
func BenchmarkSearchBenchPeers(b *testing.B) {
	dir := os.Getenv("EDGERAG_BENCH_CORPUS")
	if dir == "" {
		b.Skip("EDGERAG_BENCH_CORPUS is not set")
	}
	x := newTextIndex()
	readLines(b, filepath.Join(dir, "chunks.txt"), func(i int, line string) {
		x.add(b, "c"+itoa(i), strings.Fields(line))
	})
	x.raw = nil
	x.ix.Compact()
	var queries [][]QueryTerm
	readLines(b, filepath.Join(dir, "queries.txt"), func(_ int, line string) {
		if q := x.query(strings.Fields(line)); len(q) > 0 {
			queries = append(queries, q)
		}
	})
	sc := new(Scratch)
	var out []Hit
	runtime.GC()
	b.ResetTimer()
	cpu0 := processCPU()
	for i := range b.N {
		out = x.ix.Search(queries[i%len(queries)], 10, DefaultParams(), sc, out[:0])
	}
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/1e3/float64(b.N), "cpu-us/op")
}

func readLines(t testing.TB, path string, fn func(i int, line string)) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for i := 0; sc.Scan(); i++ {
		fn(i, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}
