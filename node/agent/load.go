package agent

import (
	"net/http"
	"runtime"
	"sync/atomic"
)

// loadMeter counts the queries a node is working on. Its value, in
// [0, 1], is what the node announces as its load: queries in flight over
// twice the cores, since a BM25 query is CPU-bound and short.
type loadMeter struct{ inflight atomic.Int64 }

func (m *loadMeter) enter() { m.inflight.Add(1) }
func (m *loadMeter) exit()  { m.inflight.Add(-1) }

func (m *loadMeter) value() float64 {
	return min(1, float64(m.inflight.Load())/float64(2*runtime.GOMAXPROCS(0)))
}

// count wraps the API so queries asked over HTTP count as load.
func (m *loadMeter) count(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/query" {
			m.enter()
			defer m.exit()
		}
		h.ServeHTTP(w, r)
	})
}
