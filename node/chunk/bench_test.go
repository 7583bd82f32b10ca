package chunk

import (
	"fmt"
	"strings"
	"testing"
)

// prose is a paragraph of the kind documentation holds, with the
// abbreviations and numbers that make sentence splitting work.
const prose = "The node keeps its index in BadgerDB, e.g. one shard per topic. " +
	"Dr. Smith measured 3.5 ms per query on a Raspberry Pi 4. Is that fast enough? " +
	"It depends on the corpus: small ones fit in memory, larger ones page from flash. "

// markdownDoc returns a Markdown document of about size bytes with headings,
// lists, code and links, like a project's README.
func markdownDoc(size int) string {
	var b strings.Builder
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "## Section %d\n\n%s\n\nSee [the guide](https://example.com/guide/%d) and *read* `config.toml` **twice**.\n\n", i, prose, i)
		fmt.Fprintf(&b, "- step one\n- step two with __emphasis__\n\n```sh\nedgerag serve --port %d\n```\n\n### Notes\n\n> %s\n\n", 8000+i, prose)
	}
	return b.String()
}

// htmlDoc returns an HTML page of about size bytes with navigation and
// footer around the main text, like a documentation site.
func htmlDoc(size int) string {
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html><html><head><title>Guide</title><style>body{margin:0}</style><script>var x = 1;</script></head><body>`)
	b.WriteString(`<header><nav><a href="/">Home</a> <a href="/docs">Docs</a></nav></header><main>`)
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "<h2 id=\"s%d\">Section %d</h2>\n<p>%s</p>\n<p>See <a href=\"/guide/%d\">the guide</a> &amp; <code>config.toml</code>.</p>\n", i, i, prose, i)
		fmt.Fprintf(&b, "<ul><li>step one</li><li>step <em>two</em></li></ul>\n<pre><code>edgerag serve --port %d</code></pre>\n", 8000+i)
	}
	b.WriteString(`</main><footer>&copy; 2025 Example</footer></body></html>`)
	return b.String()
}

func benchmarkChunk(b *testing.B, f Format, doc string) {
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Chunk(f, doc, Options{MaxTokens: 64}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChunkMarkdown5KB(b *testing.B) { benchmarkChunk(b, FormatMarkdown, markdownDoc(5000)) }
func BenchmarkChunkHTML5KB(b *testing.B)     { benchmarkChunk(b, FormatHTML, htmlDoc(5000)) }
func BenchmarkChunkText5KB(b *testing.B) {
	benchmarkChunk(b, FormatText, strings.Repeat(prose+"\n\n", 5000/len(prose)))
}

func BenchmarkSentences(b *testing.B) {
	text := strings.Repeat(prose, 20)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		Sentences(text)
	}
}
