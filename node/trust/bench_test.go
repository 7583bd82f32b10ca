package trust

import (
	"strings"
	"testing"
)

// A typical chunk: about 128 words of manual prose with figures.
var benchChunk = strings.Repeat("Replace the hydraulic return filter every 500 operating hours and check the bypass indicator daily. ", 9)

func BenchmarkDetect(b *testing.B) {
	b.SetBytes(int64(len(benchChunk)))
	for b.Loop() {
		Detect(benchChunk)
	}
}

func BenchmarkDetectMarkup(b *testing.B) {
	page := "<html><body><main><p>" + benchChunk + "</p></main></body></html>"
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		DetectMarkup(page)
	}
}
