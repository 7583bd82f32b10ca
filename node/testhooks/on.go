//go:build edgerag_testhooks

package testhooks

import (
	"os"
	"strconv"
	"syscall"

	"github.com/edgerag/edgerag/sync/manifest"
)

// Sync wires the fault-injection hooks the fleet tests drive real
// processes with, in a binary built with -tags edgerag_testhooks (as
// TestMain builds it; the release binary reads no such variable):
// EDGERAG_TEST_SYNC_KILL_AT=N kills the process (SIGKILL, no cleanup) at
// the Nth step of a sync (or at the step named N: fetch, chunk, staged,
// recorded, materialized, applied); EDGERAG_TEST_SYNC_TRACE=FILE appends
// the hash of every chunk verified on arrival.
func Sync() (hook func(point string) error, onVerified func(manifest.Hash)) {
	if v := os.Getenv("EDGERAG_TEST_SYNC_KILL_AT"); v != "" {
		at, err := strconv.Atoi(v) // a step number, or the name of a step
		calls := 0
		hook = func(point string) error {
			if calls++; (err == nil && calls == at) || point == v {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {} // the signal is on its way
			}
			return nil
		}
	}
	if path := os.Getenv("EDGERAG_TEST_SYNC_TRACE"); path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err == nil {
			onVerified = func(h manifest.Hash) { f.WriteString(h.String() + "\n") }
		}
	}
	return hook, onVerified
}
