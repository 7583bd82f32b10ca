package chunk

import (
	"testing"
	"time"
)

// within fails the test when f takes longer than d. The limits are loose
// (the race detector and a shared machine slow tests down many times); they
// catch quadratic behaviour, which on these inputs takes minutes.
func within(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	start := time.Now()
	f()
	if took := time.Since(start); took > d {
		t.Errorf("took %v, want under %v", took, d)
	}
}
