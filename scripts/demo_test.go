package scripts

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/nodetest/toolbuild"
)

// syncBuffer collects a child's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func buildEdgerag(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "edgerag")
	cmd := toolbuild.Edgerag("..", bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// waitFor waits until out holds want, failing t after a minute.
func waitFor(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !strings.Contains(out.String(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("no %q after a minute:\n%s", want, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitExit waits for cmd, returning its exit code.
func waitExit(t *testing.T, cmd *exec.Cmd, out *syncBuffer) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			return 0
		}
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		t.Fatalf("%v\n%s", err, out.String())
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("still running 30 s after Ctrl-C:\n%s", out.String())
	}
	return -1
}

// leftovers lists the demo folders left in tmp.
func leftovers(t *testing.T, tmp string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(tmp, "edgerag-demo.*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDemoCtrlC runs `make run`'s script under make on a terminal, as a
// user does, and presses Ctrl-C: make must end without an error, with exit
// status 0, and the demo's temporary folder must be gone. It then sends
// SIGINT to the script run without a terminal, as a supervisor would.
func TestDemoCtrlC(t *testing.T) {
	if testing.Short() {
		t.Skip("demo: skipped in -short mode (it builds edgerag)")
	}
	for _, tool := range []string{"script", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("demo: no %s on PATH (util-linux's script gives the test a terminal)", tool)
		}
	}
	bin := buildEdgerag(t)
	demo, err := filepath.Abs("demo.sh")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("terminal", func(t *testing.T) {
		tmp := t.TempDir()
		makefile := filepath.Join(tmp, "Makefile")
		if err := os.WriteFile(makefile, []byte("run:\n\t"+demo+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// script gives make a terminal and passes our keys to it.
		cmd := exec.Command("script", "-qefc", "make -f "+makefile+" run", "/dev/null")
		cmd.Env = append(os.Environ(), "EDGERAG_DEMO_BIN="+bin, "TMPDIR="+tmp, "EDGERAG_DEMO_ADDR=127.0.0.1:0")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		keys, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, out, "press Ctrl-C to stop it.")
		if len(leftovers(t, tmp)) != 1 {
			t.Fatalf("the demo made no folder in %s", tmp)
		}
		if _, err := io.WriteString(keys, "\x03"); err != nil {
			t.Fatal(err)
		}
		code := waitExit(t, cmd, out)
		keys.Close()
		if code != 0 || strings.Contains(out.String(), "***") || !strings.Contains(out.String(), "stopping the node") {
			t.Errorf("make run ended with %d after Ctrl-C:\n%s", code, out.String())
		}
		if l := leftovers(t, tmp); len(l) != 0 {
			t.Errorf("the demo left %v behind", l)
		}
	})

	t.Run("signal", func(t *testing.T) {
		tmp := t.TempDir()
		cmd := exec.Command(demo)
		cmd.Env = append(os.Environ(), "EDGERAG_DEMO_BIN="+bin, "TMPDIR="+tmp, "EDGERAG_DEMO_ADDR=127.0.0.1:0")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, out, "press Ctrl-C to stop it.")
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if code := waitExit(t, cmd, out); code != 0 {
			t.Errorf("exit %d after SIGINT:\n%s", code, out.String())
		}
		if l := leftovers(t, tmp); len(l) != 0 {
			t.Errorf("the demo left %v behind", l)
		}
		if !strings.Contains(out.String(), "node listening on http://127.0.0.1:") {
			t.Errorf("no address printed:\n%s", out.String())
		}
	})
}
