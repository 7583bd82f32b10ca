package vector

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// hasSIMD selects the AVX2 kernels of kernels_amd64.s. Every amd64 server
// and laptop CPU since 2013–2015 has AVX2 and FMA; the check keeps the
// portable kernels for older ones and for emulators that lack them.
var hasSIMD = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// dotAsm is dot with AVX2 and FMA: 32 floats a step in four accumulators.
// a and b have equal length.
//
//go:noescape
func dotAsm(a, b []float32) float32

// dotCodesAsm returns Σ q[i]·x[i] over the bytes of q and x (equal length,
// every byte in 0..127) with VPMADDUBSW and VPMADDWD, 128 bytes a step.
//
//go:noescape
func dotCodesAsm(q, x []uint64) uint64

// sumWordsAsm XORs together all of x with 256-bit loads, 128 bytes a step:
// nothing but reading, so its speed over a buffer far larger than the
// caches is the single-thread read bandwidth the scans are measured
// against.
//
//go:noescape
func sumWordsAsm(x []uint64) uint64

// prefetchAsm asks the CPU to fetch the n bytes at p (n > 0) into its
// caches without waiting for them; see HNSW.touch.
//
//go:noescape
func prefetchAsm(p *byte, n int)

// prefetchOK: every amd64 CPU has PREFETCHT0 (SSE).
var prefetchOK = true

func prefetch(p unsafe.Pointer, n int) { prefetchAsm((*byte)(p), n) }
