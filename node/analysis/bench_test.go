package analysis

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// paragraph is a typical chunk: about 150 words of encyclopedic English.
const paragraph = `The Great Lakes are a series of large interconnected freshwater lakes in the
mid-east region of North America that connect to the Atlantic Ocean via the Saint Lawrence
River. There are five lakes, which are Superior, Michigan, Huron, Erie, and Ontario, and they
are in general on or near the Canada–United States border. Hydrologically, lakes Michigan and
Huron are a single body joined at the Straits of Mackinac. The lakes form the Great Lakes
Waterway, which allows travel by water between the Atlantic and the continent's interior.
Together they hold about 21% of the world's surface fresh water by volume, roughly 22,671
cubic kilometres, and their combined surface area is 244,106 square kilometres. Dense forests
once covered much of the surrounding land, and the region's early economy depended on fur
trading, fishing and shipping; today the basin supports manufacturing, agriculture, tourism
and a population of more than 34 million people living in cities such as Chicago, Toronto,
Detroit and Cleveland.`

// question is a typical query.
const question = "Which of the Great Lakes is joined to Lake Michigan at the Straits of Mackinac?"

// BenchmarkAppendTerms measures the ingest path on a warm cache: the
// steady state of a node indexing a corpus whose words repeat.
func BenchmarkAppendTerms(b *testing.B) {
	a := New()
	dst := a.AppendTerms(nil, paragraph)
	b.SetBytes(int64(len(paragraph)))
	b.ReportAllocs()
	for b.Loop() {
		dst = a.AppendTerms(dst[:0], paragraph)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "chunks/s")
}

// BenchmarkAppendTermsParallel is the same on every core at once, as
// concurrent ingest runs it; the cache's locks are shared.
func BenchmarkAppendTermsParallel(b *testing.B) {
	a := New()
	a.Terms(paragraph)
	b.SetBytes(int64(len(paragraph)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var dst []string
		for pb.Next() {
			dst = a.AppendTerms(dst[:0], paragraph)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "chunks/s")
}

// BenchmarkAppendTermsUncached is the cost of analysing every word from
// scratch: the worst case, for words the cache has not seen or has no room
// for.
func BenchmarkAppendTermsUncached(b *testing.B) {
	a := NewWithOptions(Options{CacheSize: -1})
	dst := a.AppendTerms(nil, paragraph)
	b.SetBytes(int64(len(paragraph)))
	b.ReportAllocs()
	for b.Loop() {
		dst = a.AppendTerms(dst[:0], paragraph)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "chunks/s")
}

// BenchmarkAppendTermsLargeVocabulary feeds chunks drawn from a vocabulary
// of a million made-up words with Zipf-like frequencies, far more than the
// cache holds: the long tail of a real corpus, where the cache fills up and
// rare words keep missing.
func BenchmarkAppendTermsLargeVocabulary(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	vocab := make([]string, 1_000_000)
	letters := "etaoinshrdlcumwfgypbvkjxqz"
	for i := range vocab {
		n := 3 + rng.IntN(8)
		w := make([]byte, n)
		for j := range w {
			w[j] = letters[min(rng.IntN(26), rng.IntN(26))]
		}
		vocab[i] = string(w)
	}
	zipf := rand.NewZipf(rand.New(rand.NewPCG(3, 4)), 1.1, 1, uint64(len(vocab)-1))
	chunks := make([]string, 2000)
	size := 0
	for i := range chunks {
		var sb strings.Builder
		for range 150 {
			sb.WriteString(vocab[zipf.Uint64()])
			sb.WriteByte(' ')
		}
		chunks[i] = sb.String()
		size += len(chunks[i])
	}
	a := New()
	var dst []string
	b.SetBytes(int64(size / len(chunks)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		dst = a.AppendTerms(dst[:0], chunks[i%len(chunks)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "chunks/s")
}

// BenchmarkQuery is the query path: a fresh slice per question, as a
// request handler would do.
func BenchmarkQuery(b *testing.B) {
	a := New()
	a.Terms(question)
	b.ReportAllocs()
	for b.Loop() {
		a.Terms(question)
	}
}
