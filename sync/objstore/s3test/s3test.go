// Package s3test gives tests a real S3-compatible server on loopback — the
// versitygw gateway over a directory of t.TempDir() — or skips them with one
// line saying how to get one.
//
// It is test support in a non-test file so that the tests of any package
// can import it. It never builds the server: that takes minutes and is the
// job of `make versitygw` (scripts/versitygw-server.sh), whose cache it
// looks in.
package s3test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgerag/edgerag/sync/objstore"
)

// Version is the versitygw release scripts/versitygw-server.sh builds; it
// names the cache directory the binary is found in.
const Version = "v1.8.0"

// Credentials of the gateway's root account; the server is on loopback and
// lives for one test.
const (
	AccessKey = "edgerag-test"
	SecretKey = "edgerag-test-secret"
)

// Server is a running gateway.
type Server struct {
	Endpoint string // http://127.0.0.1:PORT
	Dir      string // the directory it serves; each bucket is a directory in it
	cmd      *exec.Cmd
	done     chan struct{}
	logPath  string
}

// Binary returns the path of the versitygw binary: EDGERAG_VERSITYGW_BIN,
// or else the one scripts/versitygw-server.sh caches under
// ${EDGERAG_CACHE:-$HOME/.cache/edgerag}.
func Binary() (string, error) {
	if bin := os.Getenv("EDGERAG_VERSITYGW_BIN"); bin != "" {
		return bin, nil
	}
	root := os.Getenv("EDGERAG_CACHE")
	if root == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("cannot locate the build cache (set EDGERAG_CACHE or HOME): %w", err)
		}
		root = filepath.Join(home, ".cache", "edgerag")
	}
	bin := filepath.Join(root, "versitygw", Version, "bin", "versitygw")
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("no versitygw binary at %s", bin)
	}
	return bin, nil
}

// Start runs a gateway for t with the given buckets created, and stops it
// when t ends. Without a binary it skips t.
func Start(t testing.TB, buckets ...string) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Skipf("s3test: no S3 server: %v; run 'make versitygw' (about 4 minutes, once) or set EDGERAG_VERSITYGW_BIN", err)
	}
	home := t.TempDir()
	s := &Server{Dir: filepath.Join(home, "data"), logPath: filepath.Join(home, "versitygw.log")}
	for _, b := range buckets {
		// The posix backend serves each directory as a bucket.
		if err := os.MkdirAll(filepath.Join(s.Dir, b), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var startErr error
	for range 3 { // the free port may be taken between finding and binding it
		if startErr = s.start(bin); startErr == nil {
			break
		}
	}
	if startErr != nil {
		t.Fatalf("s3test: cannot start %s: %v\n%s", bin, startErr, s.logTail())
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("s3test: gateway log:\n%s", s.logTail())
		}
	})
	return s
}

func (s *Server) start(bin string) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--port", addr, "posix", s.Dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+AccessKey, "ROOT_SECRET_KEY="+SecretKey)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { // ends when the gateway exits, which Stop guarantees
		_ = cmd.Wait()
		close(done)
	}()
	endpoint := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(endpoint + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case <-done:
			return fmt.Errorf("the gateway exited before it was ready")
		default:
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			return fmt.Errorf("not ready after 20 s: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.cmd, s.done, s.Endpoint = cmd, done, endpoint
	return nil
}

// Stop stops the gateway; stopping twice does nothing.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	s.cmd = nil
}

// Config returns the objstore configuration for s3://bucket/prefix on this
// server.
func (s *Server) Config(url string) objstore.Config {
	return objstore.FromEnv(url, s.Getenv)
}

// Getenv answers the environment variables objstore.FromEnv reads as a
// process pointed at this server would see them.
func (s *Server) Getenv(name string) string {
	for _, kv := range s.Env() {
		if k, v, _ := strings.Cut(kv, "="); k == name {
			return v
		}
	}
	return ""
}

// Env is the environment a central process needs to use this server.
func (s *Server) Env() []string {
	return []string{
		objstore.EnvEndpoint + "=" + s.Endpoint,
		objstore.EnvAccessKey + "=" + AccessKey,
		objstore.EnvSecretKey + "=" + SecretKey,
		objstore.EnvRegion + "=us-east-1",
	}
}

// Open opens s3://bucket/prefix on this server.
func (s *Server) Open(t testing.TB, url string) *objstore.Bucket {
	t.Helper()
	b, err := objstore.Open(context.Background(), s.Config(url))
	if err != nil {
		t.Fatalf("s3test: open %s: %v\n%s", url, err, s.logTail())
	}
	return b
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}
