// Package waitfor is the one way a test waits for something that becomes
// true eventually. It imports nothing of the project, so that the tests of
// any package can use it, even those node/nodetest cannot serve without an
// import cycle (node/dense, node/membership, node/admission); nodetest
// re-exports it as nodetest.WaitFor.
package waitfor

import "time"

// TB is the part of testing.TB Until uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Poll is how often Until checks: often enough that a test waits little
// past the moment cond holds, rarely enough not to starve what it waits
// for on a two-core machine.
const Poll = 5 * time.Millisecond

// Until polls cond until it holds, and fails t when timeout passes first,
// saying what it waited for.
func Until(t TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Within(timeout, cond) {
		t.Fatalf("timed out after %v waiting until %s", timeout, what)
	}
}

// Within polls cond until it holds or timeout passes, and reports whether
// it held: for a goroutine other than the test's, which must not stop the
// test (t.Fatalf) but report (t.Errorf) and go on.
func Within(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(Poll)
	}
	return true
}
