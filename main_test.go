package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/nodetest/toolbuild"
)

// execCommand is exec.Command; a variable so benchmarks share the helper.
var execCommand = exec.Command

// binary is the edgerag binary built once for the tests that run it as a
// separate process.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edgerag-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "edgerag")
	out, err := toolbuild.Edgerag(".", binary, "edgerag_testhooks").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build edgerag: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a node running as a child process.
type proc struct {
	cmd    *exec.Cmd
	url    string // HTTP API
	quic   string // QUIC endpoint, when it has one
	enroll string // central's enrollment address, when it enrolls devices
	logs   *syncBuffer
}

// syncBuffer collects a child's output; the test reads it while exec's copier writes.
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

// startNode runs 'edgerag serve' on a free loopback port and waits until it
// is ready.
func startNode(t *testing.T, data string, extra ...string) *proc {
	t.Helper()
	return startProc(t, append([]string{"serve", "--data", data, "--http", "127.0.0.1:0", "--name", "child"}, extra...))
}

// readReady fills p's addresses from a node's ready file (its HTTP URL and,
// when it listens for QUIC or enrolls devices, quic:// and enroll://
// lines) once the node has written it
// whole; false while it has not.
func readReady(path string, p *proc) bool {
	b, err := os.ReadFile(path)
	if err != nil || !strings.HasSuffix(string(b), "\n") {
		return false
	}
	for _, line := range strings.Fields(string(b)) {
		if q, ok := strings.CutPrefix(line, "quic://"); ok {
			p.quic = q
		} else if e, ok := strings.CutPrefix(line, "enroll://"); ok {
			p.enroll = e
		} else {
			p.url = line
		}
	}
	return true
}

// startProc runs the binary with args plus a ready file and waits for it.
func startProc(t *testing.T, args []string) *proc {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready")
	args = append(args, "--ready-file", ready)
	p := &proc{cmd: exec.Command(binary, args...), logs: new(syncBuffer)}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("node log:\n%s", p.logs)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if readReady(ready, p) {
			registerToken(t, p.url, args, p.logs)
			return p
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("node did not become ready:\n%s", p.logs)
	return nil
}

// TestAcknowledgedWritesSurviveKill9 ingests into a child process with
// fsync on, kills it with SIGKILL right after the last acknowledgement, and
// finds every acknowledged document after a restart.
func TestAcknowledgedWritesSurviveKill9(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	p := startNode(t, data)
	c := testClient(p.url)
	const batches, per = 20, 25
	for b := range batches {
		docs := make([]api.Document, per)
		for i := range docs {
			id := fmt.Sprintf("doc-%d-%d", b, i)
			docs[i] = api.Document{ID: id, Body: fmt.Sprintf("Maintenance record %s mentions the marker word zq%dx%d.", id, b, i)}
		}
		if _, err := c.Ingest(ctx, docs); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()

	p2 := startNode(t, data)
	c2 := testClient(p2.url)
	st, err := c2.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Documents != batches*per {
		t.Fatalf("after kill -9 and restart: %d documents, want %d", st.Documents, batches*per)
	}
	for b := range batches {
		i := (b * 7) % per
		q, err := c2.Query(ctx, api.QueryRequest{Question: fmt.Sprintf("zq%dx%d", b, i), K: 1})
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("doc-%d-%d", b, i); len(q.Citations) == 0 || q.Citations[0].DocumentID != want {
			t.Fatalf("document %s lost after kill -9: %+v", want, q.Citations)
		}
	}
}

// TestCLIIngestAndQuery drives the binary the way a user does.
func TestCLIIngestAndQuery(t *testing.T) {
	p := startNode(t, t.TempDir())
	out, err := exec.Command(binary, "ingest", "--node", p.url, "--token", tokenOf(p.url), "--quiet", "scripts/sample").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ingested 5 documents") {
		t.Fatalf("ingest: %v\n%s", err, out)
	}
	out, err = exec.Command(binary, "query", "--node", p.url, "--token", tokenOf(p.url), "How do I reset the pump after a fault?").CombinedOutput()
	if err != nil {
		t.Fatalf("query: %v\n%s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "[1]") || !strings.Contains(s, "mode: extractive") || !strings.Contains(s, "pump-p100.md") {
		t.Fatalf("query output lacks answer, citations or mode:\n%s", s)
	}
	out, err = exec.Command(binary, "query", "--node", p.url, "--token", tokenOf(p.url)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "needs a question") {
		t.Fatalf("query without a question: %v\n%s", err, out)
	}
}
