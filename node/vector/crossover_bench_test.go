package vector

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkCrossover measures every kind at the sizes where Choose must
// pick between them, on the clustered fixture (the first n vectors), one
// query at a time, graphs at EfSearchFor(n):
//
//	go test -run XXX -bench Crossover -cpu 1 -benchtime 1000x -timeout 1h ./node/vector/
//
// EDGERAG_CROSSOVER_N lists the sizes (default 10000,30000,100000). At
// 100k the float graph comes from the temp directory (see fixture.hnsw)
// and the compact one from ~/.cache/edgerag/dense-bench (see
// BenchmarkCompactHNSW). At 1M (which needs that cache) only exact, int8
// and the compact graph run: the float graph would need 1.7 GB and half an
// hour of build.
func BenchmarkCrossover(b *testing.B) {
	sizes := []int{10_000, 30_000, benchN}
	if s := os.Getenv("EDGERAG_CROSSOVER_N"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1000 {
				b.Fatalf("EDGERAG_CROSSOVER_N=%q: give sizes of at least 1000, comma-separated", s)
			}
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		for _, kind := range searchKinds() {
			if n > benchN && kind == KindHNSW {
				continue
			}
			b.Run(fmt.Sprintf("n=%d/%s", n, kind), func(b *testing.B) {
				x, fx := crossoverIndex(b, n, kind)
				if h, ok := x.(*HNSW); ok {
					if err := h.SetEfSearch(EfSearchFor(n)); err != nil {
						b.Fatal(err)
					}
				}
				runQueries(b, fx, x)
				b.ReportMetric(float64(EfSearchFor(n)), "ef")
			})
		}
	}
}

// crossoverIndex returns an index of kind over the first n clustered
// vectors and the queries with their exact answers.
func crossoverIndex(b *testing.B, n int, kind string) (Index, *fixture) {
	if n > benchN {
		c := compactCache(b, n)
		fx := &fixture{qs: c.qs, truth: c.truth}
		if kind == KindHNSWInt8 {
			return c.x, fx
		}
		x := newKind(b, kind, benchDim)
		home, _ := os.UserHomeDir()
		f, err := os.Open(filepath.Join(home, ".cache", "edgerag", "dense-bench", fmt.Sprintf("n=%d", n), "vectors.f32"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		r := bufio.NewReaderSize(f, 1<<20)
		raw := make([]byte, 4*benchDim)
		v := make([]float32, benchDim)
		for i := range n {
			if _, err := io.ReadFull(r, raw); err != nil {
				b.Fatal(err)
			}
			for j := range v {
				v[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
			}
			if err := x.Add(uint32(i), v); err != nil {
				b.Fatal(err)
			}
		}
		return x, fx
	}
	f := benchFixture(b, "clustered")
	sub := &fixture{name: f.name, qs: f.qs, truth: f.truth}
	if n == benchN {
		switch kind {
		case KindHNSWInt8:
			return compactCache(b, n).x, sub
		case KindHNSW:
			return f.index(b, KindHNSW), sub
		}
		return f.index(b, kind), sub
	}
	x := newKind(b, kind, benchDim)
	fill(b, x, seqIDs(n), f.vs[:n])
	ex := NewExact(benchDim)
	fill(b, ex, seqIDs(n), f.vs[:n])
	sub.truth = nil
	for _, q := range f.qs {
		t, _ := ex.Search(q, benchK, nil)
		sub.truth = append(sub.truth, t)
	}
	return x, sub
}
