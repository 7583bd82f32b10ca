package statuspage

import (
	"bytes"
	"strings"
	"testing"
)

// TestWriteText: the terminal status shows what the page shows, in the
// page's words, and user text (a question) cannot break its layout.
func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	if err := WriteText(&b, fixture(testNow), testNow); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"edge-kitchen-01", "ready edge", "reachable", "SHARD", "manuals", "5600", "RECENT", "How do I reset the oven timer?", "abstained", "low confidence"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "&lt;") || strings.Contains(out, "closed") {
		t.Errorf("HTML escapes or breaker jargon in:\n%s", out)
	}
	st := fixture(testNow)
	st.Recent[0].Question = "line one\nline\ttwo\x1b[2J"
	b.Reset()
	if err := WriteText(&b, st, testNow); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "line one line two [2J") || strings.Contains(b.String(), "\x1b") {
		t.Errorf("a question's control characters reached the terminal:\n%s", b.String())
	}
}
