package vector

import (
	"math"
	"math/rand/v2"
	"testing"
)

// kernelLengths covers every tail path of the vector kernels: below one
// step, between the short and the long step, and odd lengths past them.
var kernelLengths = []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 383, 384, 385, 768, 1023}

// TestDotKernelsAgree compares the float kernel in use (AVX2 or NEON where
// the CPU has them) with the portable one and with a float64 sum.
func TestDotKernelsAgree(t *testing.T) {
	t.Logf("vector kernels in use: %v", hasSIMD)
	r := rand.New(rand.NewPCG(10, 10))
	for _, n := range kernelLengths {
		for rep := range 3 {
			a, b := gaussian(r, n, 1), gaussian(r, n, 1)
			var want float64
			for i := range a {
				want += float64(a[i]) * float64(b[i])
			}
			tol := 1e-5 * math.Max(1, math.Sqrt(float64(n)))
			if got := dotGo(a, b); math.Abs(float64(got)-want) > tol {
				t.Errorf("dotGo, length %d rep %d = %v, want %v", n, rep, got, want)
			}
			if got := dotAsm(a, b); math.Abs(float64(got)-want) > tol {
				t.Errorf("dotAsm, length %d rep %d = %v, want %v", n, rep, got, want)
			}
			if got := dot(a, b); math.Abs(float64(got)-want) > tol {
				t.Errorf("dot, length %d rep %d = %v, want %v", n, rep, got, want)
			}
		}
	}
}

// TestCodeKernelsAgree: the integer kernels must agree exactly — with each
// other and with dot7 on quantised vectors — including all-127 bytes, where
// a saturating or carrying kernel would show.
func TestCodeKernelsAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 11))
	for _, words := range kernelLengths {
		for rep := range 4 {
			q, x := make([]uint64, words), make([]uint64, words)
			for i := range q {
				for b := 0; b < 64; b += 8 {
					qa, xa := uint64(r.IntN(128)), uint64(r.IntN(128))
					if rep == 3 { // the extreme: every product 127²
						qa, xa = 127, 127
					}
					q[i] |= qa << b
					x[i] |= xa << b
				}
			}
			want := dotBytesGo(q, x)
			if got := dotCodesAsm(q, x); got != want {
				t.Errorf("dotCodesAsm, %d words rep %d = %d, want %d", words, rep, got, want)
			}
			even, odd := make([]uint64, words), make([]uint64, words)
			spreadQuery(even, odd, q)
			if got := dot7(even, odd, x); got != want {
				t.Errorf("dot7, %d words rep %d = %d, want %d", words, rep, got, want)
			}
			if got := dotCodes(q, even, odd, x); got != want {
				t.Errorf("dotCodes, %d words rep %d = %d, want %d", words, rep, got, want)
			}
		}
	}
}

// FuzzCodeKernel feeds arbitrary bytes, masked to the codes' 0..127, to the
// kernel in use and the byte-at-a-time reference.
func FuzzCodeKernel(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Fuzz(func(t *testing.T, data []byte) {
		words := len(data) / 16
		q, x := make([]uint64, words), make([]uint64, words)
		for i := range words {
			for b := range 8 {
				q[i] |= uint64(data[16*i+b]&0x7F) << (8 * b)
				x[i] |= uint64(data[16*i+8+b]&0x7F) << (8 * b)
			}
		}
		if got, want := dotCodesAsm(q, x), dotBytesGo(q, x); got != want {
			t.Fatalf("%d words: kernel %d, reference %d", words, got, want)
		}
	})
}

// FuzzDotKernel compares the float kernel in use with the portable one on
// arbitrary finite inputs.
func FuzzDotKernel(f *testing.F) {
	f.Add([]byte{0, 0, 128, 63, 0, 0, 0, 64})
	f.Fuzz(func(t *testing.T, data []byte) {
		n := len(data) / 8
		a, b := make([]float32, n), make([]float32, n)
		for i := range n {
			// Small integers keep every partial sum exact in float32, so
			// the kernels must agree exactly whatever their order of adds.
			a[i] = float32(int8(data[8*i]) >> 3)
			b[i] = float32(int8(data[8*i+4]) >> 3)
		}
		if got, want := dotAsm(a, b), dotGo(a, b); got != want {
			t.Fatalf("length %d: kernel %v, portable %v", n, got, want)
		}
	})
}
