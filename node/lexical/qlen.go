package lexical

import "math/bits"

// A chunk's length is also kept quantised to a byte (Index.qlens): a
// lower bound within 1/32 of the length. Search bounds a candidate's score
// from it before it reads the exact length, which at a million chunks is a
// random read into a 4 MB column that cost a quarter of a query's CPU; the
// byte column is a quarter of the size. Lengths below 64 are exact; above,
// five bits of mantissa under a shift; from 4,096 terms on, one code.
func quantLen(n uint32) uint8 {
	if n < 64 {
		return uint8(n)
	}
	s := bits.Len32(n) - 6 // n>>s is in [32, 63]
	if s > 6 {
		return 255
	}
	return uint8(64 + (s-1)*32 + int(n>>s) - 32)
}

// unquantLen is the least length quantLen maps to q.
func unquantLen(q uint8) uint32 {
	if q < 64 {
		return uint32(q)
	}
	s := int(q-64)/32 + 1
	return uint32(int(q-64)%32+32) << s
}
