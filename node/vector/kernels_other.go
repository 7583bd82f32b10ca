//go:build !amd64 && !arm64

package vector

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
