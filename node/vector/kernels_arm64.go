package vector

import "unsafe"

// hasSIMD is always true on arm64: Advanced SIMD (NEON) is part of every
// ARMv8-A core Go supports, so kernels_arm64.s needs no feature check.
const hasSIMD = true

// dotAsm is dot with NEON: 16 floats a step in four FMLA accumulators.
// a and b have equal length.
//
//go:noescape
func dotAsm(a, b []float32) float32

// dotCodesAsm returns Σ q[i]·x[i] over the bytes of q and x (equal length,
// every byte in 0..127) with UMULL and UADALP, 64 bytes a step.
//
//go:noescape
func dotCodesAsm(q, x []uint64) uint64

// sumWordsAsm XORs together all of x with 128-bit loads: the read loop the
// scans' bandwidth is measured against.
//
//go:noescape
func sumWordsAsm(x []uint64) uint64

// prefetchOK is false on arm64 until a PRFM kernel is measured there;
// HNSW.touch loads the lines instead.
const prefetchOK = false

func prefetch(unsafe.Pointer, int) {}
