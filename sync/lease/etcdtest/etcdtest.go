// Package etcdtest gives tests a real etcd server on loopback — Debian's
// etcd-server package, run from a t.TempDir() — or skips them with one line
// saying how to get one.
//
// It is test support in a non-test file so that the tests of any package
// can import it.
package etcdtest

import (
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
)

// Server is a running single-member etcd.
type Server struct {
	Client string // http://127.0.0.1:PORT
	cmd    *exec.Cmd
	done   chan struct{}
	log    string
}

// Binary returns the etcd binary: EDGERAG_ETCD_BIN, else etcd on PATH
// (Debian's etcd-server installs /usr/bin/etcd).
func Binary() (string, error) {
	if bin := os.Getenv("EDGERAG_ETCD_BIN"); bin != "" {
		return bin, nil
	}
	return exec.LookPath("etcd")
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Start runs etcd for t and stops it when t ends; without a binary it
// skips t.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Skipf("etcdtest: no etcd server (%v); run 'apt-get install etcd-server' or set EDGERAG_ETCD_BIN", err)
	}
	dir := t.TempDir()
	s := &Server{log: filepath.Join(dir, "etcd.log")}
	var startErr error
	for range 3 { // a free port may be taken before etcd binds it
		if startErr = s.start(bin, dir); startErr == nil {
			break
		}
	}
	if startErr != nil {
		t.Fatalf("etcdtest: %v\n%s", startErr, s.tail())
	}
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("etcdtest: log:\n%s", s.tail())
		}
	})
	return s
}

func (s *Server) start(bin, dir string) error {
	client, err := freePort()
	if err != nil {
		return err
	}
	peer, err := freePort()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--name", "test", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", "http://"+client, "--advertise-client-urls", "http://"+client,
		"--listen-peer-urls", "http://"+peer, "--initial-advertise-peer-urls", "http://"+peer,
		"--initial-cluster", "test=http://"+peer)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { // ends when etcd exits, which Kill guarantees
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done, s.Client = cmd, done, "http://"+client
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := http.Get(s.Client + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("etcd exited before it was ready")
		default:
		}
		if time.Now().After(deadline) {
			s.Kill()
			return fmt.Errorf("etcd not ready after 20 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// URL returns the --sync-lease value for prefix on this server.
func (s *Server) URL(prefix string) string {
	return "etcd://" + strings.TrimPrefix(s.Client, "http://") + "/" + prefix
}

// Kill stops etcd; killing twice does nothing.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
	s.cmd = nil
}

func (s *Server) tail() string {
	b, _ := os.ReadFile(s.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}
