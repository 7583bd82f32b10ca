package waitfor

import (
	"fmt"
	"testing"
	"time"
)

type fakeT struct{ msg string }

func (*fakeT) Helper()                          {}
func (f *fakeT) Fatalf(format string, a ...any) { f.msg = fmt.Sprintf(format, a...) }

func TestUntil(t *testing.T) {
	start := time.Now()
	var f fakeT
	Until(&f, time.Second, "it holds", func() bool { return time.Since(start) > 20*time.Millisecond })
	if f.msg != "" {
		t.Fatalf("failed a condition that came true: %s", f.msg)
	}
	Until(&f, 30*time.Millisecond, "never", func() bool { return false })
	if f.msg != "timed out after 30ms waiting until never" {
		t.Fatalf("message %q", f.msg)
	}
}
