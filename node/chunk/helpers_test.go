package chunk

import (
	"runtime"
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
