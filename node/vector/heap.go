package vector

// The heaps here are plain []Hit with the worst hit at index 0, written out
// rather than through container/heap, whose interface calls box values and
// cost more than the comparisons themselves on the query path. A heap that
// must yield its best hit first (HNSW's candidate queue) stores negated
// scores.

// worse orders hits: a lower score is worse, and on equal scores a higher id
// is, so that results do not depend on insertion order.
func worse(a, b Hit) bool {
	return a.Score < b.Score || (a.Score == b.Score && a.ID > b.ID)
}

// push adds x to heap h.
func push(h []Hit, x Hit) []Hit {
	h = append(h, x)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !worse(h[i], h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	return h
}

// pop removes the worst hit of heap h and returns it with the shorter heap.
func pop(h []Hit) (Hit, []Hit) {
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	siftDown(h, 0)
	return top, h
}

func siftDown(h []Hit, i int) {
	n := len(h)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if r := c + 1; r < n && worse(h[r], h[c]) {
			c = r
		}
		if !worse(h[c], h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// offer keeps the k best hits seen in heap h: x enters while the heap is
// short, or when it beats the worst kept.
func offer(h []Hit, k int, x Hit) []Hit {
	if len(h) < k {
		return push(h, x)
	}
	if worse(h[0], x) {
		h[0] = x
		siftDown(h, 0)
	}
	return h
}

// sortBest turns heap h into a list sorted best first, in place: each step
// moves the worst remaining hit to the end of the unsorted part.
func sortBest(h []Hit) {
	for n := len(h) - 1; n > 0; n-- {
		h[0], h[n] = h[n], h[0]
		siftDown(h[:n], 0)
	}
}

// topIn returns dst with room for k more hits and an empty heap that uses
// that room, so a caller that passes dst with spare capacity allocates
// nothing.
func topIn(dst []Hit, k int) ([]Hit, []Hit) {
	if cap(dst)-len(dst) < k {
		grown := make([]Hit, len(dst), len(dst)+k)
		copy(grown, dst)
		dst = grown
	}
	return dst, dst[len(dst):len(dst)]
}
