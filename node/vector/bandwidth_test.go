package vector

import (
	"runtime"
	"slices"
	"testing"
	"time"
)

// BenchmarkScanBandwidth measures the exact and int8 scans over the 100k
// clustered fixture against the machine's single-thread read bandwidth,
// measured in the same loop: each round times one pass of sumWordsAsm over
// a 256 MiB buffer (far beyond the caches) and one query of each scan. It
// reports the medians as GB/s and the scans' share of the read bandwidth
// (the goal is ≥ 70 %), and the same shares per round by the
// thread's CPU clock. Run on one core:
//
//	go test -run XXX -bench ScanBandwidth -cpu 1 -benchtime 40x ./node/vector/
func BenchmarkScanBandwidth(b *testing.B) {
	f := benchFixture(b, "clustered")
	ex := f.index(b, KindExact).Index.(*Exact)
	i8 := f.index(b, KindInt8).Index.(*Int8)
	buf := make([]uint64, 256<<20/8)
	for i := range buf {
		buf[i] = uint64(i) * 0x9E3779B97F4A7C15
	}
	exactBytes := float64(benchN * benchDim * 4)
	// The int8 scan reads the codes and, per row, a scale and a code sum.
	int8Bytes := float64(benchN * (codeWords(benchDim)*8 + 8))
	// Per round: wall-clock GB/s of each pass, and each scan's share of
	// the read loop's bandwidth in the same round, both timed by the
	// thread's CPU clock, which a descheduled thread does not advance (on
	// this shared machine a 3 ms scan is often preempted).
	var read, exact, int8s, cpuExact, cpuInt8 []float64
	dst := make([]Hit, 0, benchK)
	var sink uint64
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	timed := func(fn func()) (wall, cpu float64) {
		t0, c0 := time.Now(), threadCPU()
		fn()
		return time.Since(t0).Seconds(), (threadCPU() - c0).Seconds()
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		q := f.qs[i%len(f.qs)]
		rw, rc := timed(func() { sink ^= sumWordsAsm(buf) })
		ew, ec := timed(func() { dst, _ = ex.Search(q, benchK, dst[:0]) })
		iw, ic := timed(func() { dst, _ = i8.Search(q, benchK, dst[:0]) })
		readBytes := float64(len(buf) * 8)
		read = append(read, readBytes/rw/1e9)
		exact = append(exact, exactBytes/ew/1e9)
		int8s = append(int8s, int8Bytes/iw/1e9)
		cpuExact = append(cpuExact, 100*(exactBytes/ec)/(readBytes/rc))
		cpuInt8 = append(cpuInt8, 100*(int8Bytes/ic)/(readBytes/rc))
	}
	b.StopTimer()
	if sink == 42 {
		b.Log("unlikely")
	}
	med := func(xs []float64) float64 { slices.Sort(xs); return xs[len(xs)/2] }
	r, e, c := med(read), med(exact), med(int8s)
	b.ReportMetric(r, "read-GB/s")
	b.ReportMetric(e, "exact-GB/s")
	b.ReportMetric(c, "int8-GB/s")
	b.ReportMetric(100*e/r, "exact-%bw")
	b.ReportMetric(100*c/r, "int8-%bw")
	b.ReportMetric(med(cpuExact), "exact-cpu-%bw")
	b.ReportMetric(med(cpuInt8), "int8-cpu-%bw")
	b.ReportMetric(exactBytes/e/1e3, "exact-µs")
	b.ReportMetric(int8Bytes/c/1e3, "int8-µs")
	b.ReportMetric(0, "ns/op")
}
