package toolbuild

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func writeBin(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// hold takes the build lock of tool/key under root the way
// scripts/tool-cache.sh does (an exclusive flock on its own open file) and
// returns the function that releases it.
func hold(t *testing.T, root, tool, key string) func() {
	t.Helper()
	dir := filepath.Join(root, tool, key)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, ".lock"))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	return func() { f.Close() }
}

func TestBinary(t *testing.T) {
	t.Run("cached", func(t *testing.T) {
		root := t.TempDir()
		want := filepath.Join(root, "gw", "v1", "bin", "gw")
		writeBin(t, want)
		if got, err := binaryIn(root, "gw", "v1", "gw", time.Minute); err != nil || got != want {
			t.Fatalf("binaryIn = %q, %v; want %q", got, err, want)
		}
	})
	t.Run("never built", func(t *testing.T) {
		root := t.TempDir()
		start := time.Now()
		_, err := binaryIn(root, "gw", "v1", "gw", time.Minute)
		if err == nil || errors.Is(err, ErrStillBuilding) || !strings.Contains(err.Error(), "no gw binary") {
			t.Fatalf("err = %v; want a plain 'no gw binary'", err)
		}
		if d := time.Since(start); d > 900*time.Millisecond { // under a poll (1 s)
			t.Errorf("took %s with no build running; want no wait", d)
		}
	})
	t.Run("waits for a running build", func(t *testing.T) {
		root := t.TempDir()
		release := hold(t, root, "gw", "v1")
		want := filepath.Join(root, "gw", "v1", "bin", "gw")
		if err := os.MkdirAll(filepath.Dir(want), 0o755); err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(300*time.Millisecond, func() {
			_ = os.WriteFile(want, []byte("#!/bin/sh\n"), 0o755) // binaryIn fails if this did
			release()
		})
		if got, err := binaryIn(root, "gw", "v1", "gw", time.Minute); err != nil || got != want {
			t.Fatalf("binaryIn = %q, %v; want %q once the build is done", got, err, want)
		}
	})
	t.Run("build fails", func(t *testing.T) {
		root := t.TempDir()
		release := hold(t, root, "gw", "v1")
		time.AfterFunc(100*time.Millisecond, release)
		_, err := binaryIn(root, "gw", "v1", "gw", time.Minute)
		if err == nil || errors.Is(err, ErrStillBuilding) || !strings.Contains(err.Error(), "build-gw.log") {
			t.Fatalf("err = %v; want one naming the build's log", err)
		}
	})
	t.Run("build outlasts the wait", func(t *testing.T) {
		root := t.TempDir()
		release := hold(t, root, "gw", "v1")
		defer release()
		_, err := binaryIn(root, "gw", "v1", "gw", 50*time.Millisecond)
		if !errors.Is(err, ErrStillBuilding) {
			t.Fatalf("err = %v; want ErrStillBuilding", err)
		}
	})
}

// TestWaitsForToolCacheScript holds the lock with scripts/tool-cache.sh
// itself, as scripts/test-tools.sh's background builds do, so that a change
// to the script's locking cannot leave the tests skipping mid-build.
func TestWaitsForToolCacheScript(t *testing.T) {
	for _, cmd := range []string{"bash", "flock", "go"} {
		if _, err := exec.LookPath(cmd); err != nil {
			t.Skipf("no %s on PATH: the script's lock cannot be taken here", cmd)
		}
	}
	script, err := filepath.Abs("../../../scripts/tool-cache.sh")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	started := filepath.Join(root, "started")
	cmd := exec.Command("bash", "-c", `set -eu
tool=gw tool_key=v1 tool_bin=gw
source "$1"
tool_cache_enter
: >"$2"
sleep 1
printf '#!/bin/sh\n' >"$work/gw"
chmod +x "$work/gw"
tool_cache_install "$work/gw" >/dev/null`, "build", script, started)
	cmd.Env = append(os.Environ(), "EDGERAG_CACHE="+root)
	out := new(strings.Builder)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Wait() }()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the script never took its lock:\n%s", out)
		}
	}
	want := filepath.Join(root, "gw", "v1", "bin", "gw")
	if got, err := binaryIn(root, "gw", "v1", "gw", time.Minute); err != nil || got != want {
		t.Fatalf("binaryIn = %q, %v; want %q once the script is done\n%s", got, err, want, out)
	}
}
