package vector

import "math"

// dot returns the dot product of a and b, which have equal length, with
// the CPU's vector unit when it has one (see kernels_amd64.go and
// kernels_arm64.go) and dotGo otherwise.
func dot(a, b []float32) float32 {
	if hasSIMD {
		return dotAsm(a, b[:len(a)])
	}
	return dotGo(a, b)
}

// dotCodes returns dot7's sum for a query whose packed codes are q (and, for
// the portable kernel, spread into even and odd by spreadQuery). The vector
// kernels multiply the biased bytes directly: they are all in 0..127, so a
// signed-by-unsigned byte multiply-add (VPMADDUBSW, SDOT's signed bytes)
// neither overflows nor saturates.
func dotCodes(q, even, odd, x []uint64) uint64 {
	if hasSIMD {
		return dotCodesAsm(q, x[:len(q)])
	}
	return dot7(even, odd, x)
}

// dotGo is the portable float kernel. Four accumulators let four multiply-adds be in flight at once instead of each
// waiting for the previous add; that alone is 2.4× faster than a plain loop
// (eight were slower on amd64). The reslicing lets the compiler drop bounds
// checks.
func dotGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		aa, bb := a[i:i+4:i+4], b[i:i+4:i+4]
		s0 += aa[0] * bb[0]
		s1 += aa[1] * bb[1]
		s2 += aa[2] * bb[2]
		s3 += aa[3] * bb[3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// The int8 kind stores each vector as 7-bit signed codes c in -63..63 (with
// a per-vector scale) biased by +64 into 1..127 and packed eight to a
// uint64. Seven bits, not eight, is what makes the scan fast in portable Go:
// masking a word's even (or odd) bytes leaves four codes in 16-bit lanes,
// and multiplying that by a word holding four query codes in reverse lane
// order puts the sum of the four products in the top lane. Each product is
// at most 127² and four of them stay below 1<<16, and each lower lane holds
// fewer products, so no carry corrupts the top lane. One 64-bit multiply
// thus does four multiply-adds; the scan costs ~33 ns a 384-d vector
// against ~88 ns for float32 and ~175 ns for a byte-at-a-time int8 loop.
const (
	codeMax  = 63
	codeBias = 64
	evenMask = 0x00FF00FF00FF00FF
)

// codeWords is the number of uint64 words holding dim codes.
func codeWords(dim int) int { return (dim + 7) / 8 }

// quantize writes v's biased codes into words (codeWords(len(v)) long,
// padded with the code of 0) and returns the scale that maps codes back to
// values and the sum of the unbiased codes, which the scan needs to remove
// the bias again.
func quantize(words []uint64, v []float32) (scale float32, sum int32) {
	var m float32
	for _, x := range v {
		m = max(m, float32(math.Abs(float64(x))))
	}
	inv := float32(0)
	if m > 0 {
		scale = m / codeMax
		inv = codeMax / m
	}
	for w := range words {
		var word uint64
		for b := 0; b < 8; b++ {
			c := int32(0)
			if i := w*8 + b; i < len(v) {
				c = int32(math.Round(float64(v[i] * inv)))
				c = min(max(c, -codeMax), codeMax)
			}
			sum += c
			word |= uint64(c+codeBias) << (8 * b)
		}
		words[w] = word
	}
	return scale, sum
}

// spreadQuery turns a query's packed codes into the multiplier words of
// dot7: even[w] holds the codes of bytes 0, 2, 4, 6 of word w in lanes 3, 2,
// 1, 0, and odd[w] those of bytes 1, 3, 5, 7 likewise.
func spreadQuery(even, odd, words []uint64) {
	for w, word := range words {
		var e, o uint64
		for lane := 0; lane < 4; lane++ {
			e |= ((word >> (16 * lane)) & 0xFF) << (16 * (3 - lane))
			o |= ((word >> (16*lane + 8)) & 0xFF) << (16 * (3 - lane))
		}
		even[w], odd[w] = e, o
	}
}

// dot7 returns the sum over all codes of biasedQuery × biasedVector; see
// the comment on codeMax for why one multiply does four of them. Four words
// a step, summed before they reach the accumulators, run 1.45× faster than
// one: the shifts and masks of a step overlap.
func dot7(even, odd, x []uint64) uint64 {
	even, odd = even[:len(x)], odd[:len(x)]
	var s0, s1 uint64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		xx, e, o := x[i:i+4:i+4], even[i:i+4:i+4], odd[i:i+4:i+4]
		s0 += ((xx[0]&evenMask)*e[0])>>48 + ((xx[1]&evenMask)*e[1])>>48 +
			((xx[2]&evenMask)*e[2])>>48 + ((xx[3]&evenMask)*e[3])>>48
		s1 += ((xx[0]>>8&evenMask)*o[0])>>48 + ((xx[1]>>8&evenMask)*o[1])>>48 +
			((xx[2]>>8&evenMask)*o[2])>>48 + ((xx[3]>>8&evenMask)*o[3])>>48
	}
	for ; i < len(x); i++ {
		s0 += ((x[i] & evenMask) * even[i]) >> 48
		s1 += ((x[i] >> 8 & evenMask) * odd[i]) >> 48
	}
	return s0 + s1
}

// unbias turns dot7's biased sum into the dot product of the signed codes:
// Σ(q+b)(x+b) = Σqx + b·Σx + b·Σq + b²·n over all n padded positions.
func unbias(raw uint64, sumX, sumQ int32, words int) int64 {
	n := int64(words) * 8
	return int64(raw) - codeBias*(int64(sumX)+int64(sumQ)) - codeBias*codeBias*n
}

// dotBytesGo is Σ q[i]·x[i] over the bytes of q and x, one byte at a time:
// the reference the vector kernels are tested against, and the kernel for
// two stored code rows, which have no spread form.
func dotBytesGo(q, x []uint64) uint64 {
	x = x[:len(q)]
	var s uint64
	for i, a := range q {
		b := x[i]
		for j := 0; j < 64; j += 8 {
			s += (a >> j & 0xFF) * (b >> j & 0xFF)
		}
	}
	return s
}
