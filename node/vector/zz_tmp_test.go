package vector

import (
	"bytes"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"
)

func (h *HNSW) searchLayerP(s *hnswScratch, q []float32, ep uint32, eps float32, ef, layer int, stride int, buf []uint32) float32 {
	var sink float32
	s.seen[ep] = s.epoch
	cand := push(s.cand, Hit{ID: ep, Score: -eps})
	res := push(s.res, Hit{ID: ep, Score: eps})
	for len(cand) > 0 {
		var c Hit
		c, cand = pop(cand)
		if len(res) >= ef && -c.Score < res[0].Score {
			break
		}
		row := h.list(c.ID, layer)
		fresh := buf[:0]
		for _, nb := range row[1 : 1+row[0]] {
			if s.seen[nb] == s.epoch {
				continue
			}
			s.seen[nb] = s.epoch
			fresh = append(fresh, nb)
			v := h.vecs.at(int(nb))
			for j := 0; j < len(v); j += stride {
				sink += v[j]
			}
		}
		for _, nb := range fresh {
			sc := dot(q, h.vecs.at(int(nb)))
			if len(res) < ef || sc > res[0].Score {
				cand = push(cand, Hit{ID: nb, Score: -sc})
				res = offer(res, ef, Hit{ID: nb, Score: sc})
			}
		}
	}
	s.cand, s.res = cand, res
	return sink
}

func TestTmpPrefetch(t *testing.T) {
	data, err := os.ReadFile("/tmp/edgerag-vector-bench-clustered-100000-M16-efc100.idx")
	if err != nil {
		t.Skip(err)
	}
	x, _ := Load(bytes.NewReader(data))
	h := x.(*HNSW)
	_, centres := clustered(10, benchDim, 1000, 3)
	r := rand.New(rand.NewPCG(4, 4))
	var qs [][]float32
	for range 200 {
		qs = append(qs, jitter(r, centres[r.IntN(len(centres))]))
	}
	buf := make([]uint32, 64)
	var sink float32
	for round := 0; round < 2; round++ {
		for _, stride := range []int{0, 384, 64, 16} {
			var lat []time.Duration
			for rep := 0; rep < 5; rep++ {
				for _, q := range qs {
					t0 := time.Now()
					if stride == 0 {
						h.Search(q, 10, nil)
					} else {
						s := h.pool.get()
						s.reset(benchN)
						ep := h.entry
						eps := dot(q, h.vecs.at(int(ep)))
						for l := h.top; l > 0; l-- {
							ep, eps = h.greedy(q, ep, eps, l)
						}
						sink += h.searchLayerP(s, q, ep, eps, 40, 0, stride, buf)
						h.pool.put(s)
					}
					lat = append(lat, time.Since(t0))
				}
			}
			slices.Sort(lat)
			t.Logf("stride %d p50 %v", stride, lat[len(lat)/2])
		}
	}
	_ = sink
}
