//go:build !amd64 && !arm64

package vector

import "unsafe"

// hasSIMD is false where no vector kernel is written (armv7, 386, ...): the
// portable kernels of kernels.go serve.
const hasSIMD = false

func dotAsm(a, b []float32) float32 { return dotGo(a, b) }

func dotCodesAsm(q, x []uint64) uint64 { return dotBytesGo(q, x) }

func sumWordsAsm(x []uint64) uint64 {
	var s uint64
	for _, w := range x {
		s ^= w
	}
	return s
}

// prefetchOK is false: HNSW.touch loads the lines instead.
const prefetchOK = false

func prefetch(unsafe.Pointer, int) {}
