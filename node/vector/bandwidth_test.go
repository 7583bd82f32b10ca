package vector

import (
	"slices"
	"testing"
	"time"
)

// BenchmarkScanBandwidth measures the exact and int8 scans over the 100k
// clustered fixture against the machine's single-thread read bandwidth,
// measured in the same loop: each round times one pass of sumWordsAsm over
// a 256 MiB buffer (far beyond the caches) and one query of each scan. It
// reports the medians as GB/s and the scans' share of the read bandwidth
// (the goal is ≥ 70 %). Run on one core:
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
	var read, exact, int8s []float64 // GB/s per round
	dst := make([]Hit, 0, benchK)
	var sink uint64
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		q := f.qs[i%len(f.qs)]
		t0 := time.Now()
		sink ^= sumWordsAsm(buf)
		t1 := time.Now()
		dst, _ = ex.Search(q, benchK, dst[:0])
		t2 := time.Now()
		dst, _ = i8.Search(q, benchK, dst[:0])
		t3 := time.Now()
		read = append(read, float64(len(buf)*8)/t1.Sub(t0).Seconds()/1e9)
		exact = append(exact, exactBytes/t2.Sub(t1).Seconds()/1e9)
		int8s = append(int8s, int8Bytes/t3.Sub(t2).Seconds()/1e9)
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
	b.ReportMetric(exactBytes/e/1e3, "exact-µs")
	b.ReportMetric(int8Bytes/c/1e3, "int8-µs")
	b.ReportMetric(0, "ns/op")
}
