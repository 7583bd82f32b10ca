// Package etcdtest gives tests a real etcd server on loopback — Debian's
// etcd-server package, run from a t.TempDir() — or skips them with one line
// saying how to get one.
//
// It is test support in a non-test file so that the tests of any package
// can import it.
package etcdtest

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgerag/edgerag/node/nodetest/serverproc"
)

// Server is a running single-member etcd.
type Server struct {
	Client string // http://127.0.0.1:PORT
	proc   *serverproc.Proc
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
	client, err := serverproc.FreeAddr()
	if err != nil {
		return err
	}
	peer, err := serverproc.FreeAddr()
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "--name", "test", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", "http://"+client, "--advertise-client-urls", "http://"+client,
		"--listen-peer-urls", "http://"+peer, "--initial-advertise-peer-urls", "http://"+peer,
		"--initial-cluster", "test=http://"+peer)
	healthy := func(r *http.Response) bool { return r.StatusCode == http.StatusOK }
	p, err := serverproc.Start("etcd", cmd, s.log, "http://"+client+"/health", healthy)
	if err != nil {
		return err
	}
	s.proc, s.Client = p, "http://"+client
	return nil
}

// URL returns the --sync-lease value for prefix on this server.
func (s *Server) URL(prefix string) string {
	return "etcd://" + strings.TrimPrefix(s.Client, "http://") + "/" + prefix
}

// Kill stops etcd with SIGKILL, as a crash would; killing twice does
// nothing.
func (s *Server) Kill() { s.proc.Stop(0) }

func (s *Server) tail() string { return serverproc.Tail(s.log, 20) }
