//go:build !race

package chunk

// The tests in this file hold the parsers to linear time on hostile 1 MB
// inputs, measured in CPU time. They are left out of race-enabled builds:
// the parsers run on one goroutine, so the race detector has nothing to
// find here, and it slows them down many times (28 s of CPU against 4 for
// the package). make test runs them without -race beside the race-enabled
// tests (test-side in the Makefile), where their limits mean something.

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// within fails the test when f uses more than d of CPU time. It counts the
// CPU time of the thread f runs on, not the wall clock, because the tests
// run beside others on a shared 2-core machine where waiting for a core can
// take longer than the work itself; the parsers run on the calling goroutine
// only. The limits are loose (the race detector slows code down many times):
// they catch quadratic behaviour, which on these inputs takes minutes.
func within(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start, ok := threadCPU()
	if !ok {
		t.Log("thread CPU time unavailable here; measuring wall time")
	}
	began := time.Now()
	f()
	took := time.Since(began)
	if ok {
		end, _ := threadCPU()
		took = end - start
	}
	if took > d {
		t.Errorf("took %v of CPU, want under %v", took, d)
	}
}

func TestParseHTMLHostileInputIsFast(t *testing.T) {
	const mb = 1 << 20
	inputs := map[string]string{
		"10k nested divs":       strings.Repeat("<div>", 10000) + "deep" + strings.Repeat("</div>", 10000),
		"100k nested divs":      strings.Repeat("<div>", 100000) + "deep",
		"100k nested inline":    strings.Repeat("<b><i>", 50000) + "deep",
		"100k nested headings":  strings.Repeat("<h2>x", 100000),
		"100k nested lists":     strings.Repeat("<ul><li>x", 50000),
		"stray end tags":        strings.Repeat("<p>", 10000) + strings.Repeat("</x>", 200000),
		"end tags deep":         strings.Repeat("<div><span>", 50000) + strings.Repeat("</div>", 50000),
		"one long line of text": strings.Repeat("word ", mb/5),
		"many paragraphs":       strings.Repeat("<p>a b c</p>", mb/12),
		"many attributes":       "<p " + strings.Repeat("a=b ", mb/4) + ">x</p>",
	}
	for name, body := range inputs {
		t.Run(name, func(t *testing.T) {
			within(t, 5*time.Second, func() {
				if _, err := Chunk(FormatHTML, body, Options{}); err != nil {
					t.Fatal(err)
				}
				Title(body)
			})
		})
	}
}

func TestParseMarkdownHostileInputIsFast(t *testing.T) {
	const mb = 1 << 20
	inputs := map[string]string{
		"one long line":          strings.Repeat("word *em* [link](u) `c` ", mb/24),
		"open brackets":          strings.Repeat("[", mb),
		"brackets and parens":    strings.Repeat("](", mb/2),
		"link starts":            strings.Repeat("[a](b ", mb/6),
		"unclosed titles":        strings.Repeat(`[a](b "`, mb/7),
		"backtick runs":          backtickRuns(mb),
		"autolink starts":        strings.Repeat("<http://", mb/8),
		"comment starts":         strings.Repeat("<!--", mb/4),
		"tag starts":             strings.Repeat("<a b=", mb/5),
		"entity starts":          strings.Repeat("&amp", mb/4),
		"emphasis":               strings.Repeat("*_~", mb/3),
		"nested quotes":          strings.Repeat(">", mb),
		"many headings":          strings.Repeat("# h\n", mb/4),
		"deep heading path":      strings.Repeat("###### h\ntext\n", mb/14),
		"many short list items":  strings.Repeat("- a\n", mb/4),
		"fence opened each line": strings.Repeat("```\n", mb/4),
	}
	for name, body := range inputs {
		t.Run(name, func(t *testing.T) {
			within(t, 5*time.Second, func() {
				if _, err := Chunk(FormatMarkdown, body, Options{}); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// backtickRuns returns about n bytes of backtick runs of growing length,
// none closed, which makes a naive search for closing runs quadratic.
func backtickRuns(n int) string {
	var b strings.Builder
	for k := 1; b.Len() < n; k++ {
		b.WriteString(strings.Repeat("`", k%2000+1))
		b.WriteByte('x')
	}
	return b.String()
}

func TestSentencesLongInputIsFast(t *testing.T) {
	// Long runs without spaces and long runs of periods are where a naive
	// backwards search for abbreviations turns quadratic.
	inputs := map[string]string{
		"periods":        strings.Repeat(".", 1<<20),
		"dotted word":    strings.Repeat("a.", 1<<19),
		"many sentences": strings.Repeat("Dr. Who went home. ", 1<<16),
		"spaced periods": strings.Repeat(" .", 1<<19),
	}
	for name, text := range inputs {
		t.Run(name, func(t *testing.T) {
			within(t, 3*time.Second, func() { checkSpans(t, text, Sentences(text)) })
		})
	}
}

func TestSplitLongInputIsFast(t *testing.T) {
	inputs := map[string]string{
		"one 1 MB sentence":   strings.Repeat("word ", 1<<20/5),
		"many short ones":     strings.Repeat("A b. ", 1<<20/5),
		"one word of 1 MB":    strings.Repeat("x", 1<<20),
		"cranfield 1 MB line": strings.Repeat("flow . ", 1<<20/7),
	}
	for name, text := range inputs {
		t.Run(name, func(t *testing.T) {
			for _, o := range []Options{{}, {MaxTokens: 16, OverlapTokens: 7}, {MaxTokens: 4096, OverlapTokens: -1}} {
				within(t, 5*time.Second, func() {
					pieces := Split([]Section{{Paragraphs: []string{text}}}, o)
					if len(pieces) == 0 {
						t.Fatal("no pieces")
					}
				})
			}
		})
	}
}
