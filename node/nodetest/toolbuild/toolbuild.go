// Package toolbuild gives process tests their binaries: it builds edgerag
// the one way every test builds it (Edgerag), and finds the server binaries
// that scripts/*-server.sh build once into the edgerag cache (the Ollama
// server, the versitygw S3 gateway), waiting for a build still running.
//
// `make test` starts those builds in the background (scripts/test-tools.sh)
// and starts the Go tests without waiting for them, so that the tests that
// need no server use the minutes of the build. A test that needs a server
// then reaches Binary before the build is done: rather than skip — which
// would quietly drop the test from a fresh machine's first run — it waits
// for the build's lock (scripts/tool-cache.sh holds it while it builds), up
// to a bound, and fails saying so if the build outlasts it.
//
// It imports nothing of the project, so that any package's test support can
// use it.
package toolbuild

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Edgerag returns the command that builds the edgerag binary at out from the
// repository root with the given build tags. It uses `make build`'s flags
// (no cgo, -trimpath) on purpose: Go's build cache keys every compiled
// package by them, so with these the tests' builds and make build compile the
// whole tree once without -race between them — on a fresh machine that is
// minutes — and each further build only links.
func Edgerag(root, out string, tags ...string) *exec.Cmd {
	args := []string{"build", "-trimpath"}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.Command("go", append(args, "-o", out, ".")...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	return cmd
}

// MaxWait bounds the wait for a running build. A fresh Ollama build takes
// about 5 minutes on an idle 2-core machine and up to 12 on a busy one; the
// tests' own -timeout (25m in make test) must leave room for the test after
// the wait.
const MaxWait = 15 * time.Minute

// ErrStillBuilding is wrapped by Binary's error when the build still holds
// its lock after MaxWait: the caller should fail, not skip.
var ErrStillBuilding = errors.New("the build is still running")

// poll is how often the wait looks at the lock again.
const poll = time.Second

// CacheRoot is ${EDGERAG_CACHE:-$HOME/.cache/edgerag}, where the scripts
// keep what they build.
func CacheRoot() (string, error) {
	if root := os.Getenv("EDGERAG_CACHE"); root != "" {
		return root, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot locate the build cache (set EDGERAG_CACHE or HOME): %w", err)
	}
	return filepath.Join(home, ".cache", "edgerag"), nil
}

// Binary returns the path of the binary name that scripts/<tool>-server.sh
// caches under <cache root>/<tool>/<key>/bin. When it is not there and that
// script is building it right now, Binary waits for the build, up to
// MaxWait, then looks again. It fails when there is no binary: with an
// error wrapping ErrStillBuilding when the build outlasted the wait, else
// one naming the build's log when a build ran and left no binary.
func Binary(tool, key, name string) (string, error) {
	root, err := CacheRoot()
	if err != nil {
		return "", err
	}
	return binaryIn(root, tool, key, name, MaxWait)
}

func binaryIn(root, tool, key, name string, maxWait time.Duration) (string, error) {
	dir := filepath.Join(root, tool, key)
	bin := filepath.Join(dir, "bin", name)
	if executable(bin) {
		return bin, nil
	}
	waited, err := waitUnlocked(filepath.Join(dir, ".lock"), maxWait)
	if err != nil {
		return "", fmt.Errorf("no %s binary at %s: %w", tool, bin, err)
	}
	if executable(bin) {
		return bin, nil
	}
	if waited > 0 {
		return "", fmt.Errorf("no %s binary at %s after waiting %s for its build, which failed (see %s)", tool, bin, waited.Round(time.Second), filepath.Join(root, "build-"+tool+".log"))
	}
	return "", fmt.Errorf("no %s binary at %s", tool, bin)
}

// waitUnlocked waits while another process holds an exclusive flock on
// path, the way scripts/tool-cache.sh does for the length of a build, and
// returns how long it waited: 0 when no build held the lock. No lock file
// means no build ever started.
func waitUnlocked(path string, maxWait time.Duration) (time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil
	}
	defer f.Close()
	start := time.Now()
	for tries := 0; ; tries++ {
		// A shared lock is free exactly when no build holds the
		// exclusive one; it is released at once, so a later build is
		// never kept waiting by a test.
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
		if err == nil {
			_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			if tries == 0 {
				return 0, nil
			}
			return time.Since(start), nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			// No locking here (an odd file system): behave as before
			// there was a wait, and look for the binary once.
			return 0, nil
		}
		if time.Since(start) >= maxWait {
			return time.Since(start), fmt.Errorf("%w after %s (scripts/test-tools.sh started it; its lock is %s)", ErrStillBuilding, maxWait, path)
		}
		time.Sleep(poll)
	}
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}
