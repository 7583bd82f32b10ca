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

// plainChunk is prose that holds none of the rules' keys (the bench-peers
// corpus is all such text): what the screen costs on nearly every chunk.
var plainChunk = strings.Repeat("Check the pressure gauge on the return line while the pump runs at idle speed. ", 7)

func BenchmarkDetectPlain(b *testing.B) {
	b.SetBytes(int64(len(plainChunk)))
	for b.Loop() {
		Detect(plainChunk)
	}
}
