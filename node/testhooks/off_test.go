//go:build !edgerag_testhooks

package testhooks

import "testing"

// TestReleaseBuildHasNoSwitches: without the build tag the variables do
// nothing, so a release binary cannot be made to kill itself mid-sync.
func TestReleaseBuildHasNoSwitches(t *testing.T) {
	t.Setenv("EDGERAG_TEST_SYNC_KILL_AT", "1")
	t.Setenv("EDGERAG_TEST_SYNC_TRACE", t.TempDir()+"/trace")
	if hook, onVerified := Sync(); hook != nil || onVerified != nil {
		t.Fatal("a build without edgerag_testhooks wired fault-injection hooks")
	}
}
