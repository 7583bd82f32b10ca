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
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/nodetest/serverproc"
	"github.com/edgerag/edgerag/node/nodetest/toolbuild"
	"github.com/edgerag/edgerag/sync/objstore"
)

// Version is the versitygw release scripts/versitygw-server.sh builds its
// POSIX-only gateway (scripts/s3gateway) from.
const Version = "v1.8.0"

// cacheKey names the cache directory the binary is found in, as in
// scripts/versitygw-server.sh.
const cacheKey = Version + "-posix"

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
	proc     *serverproc.Proc
	logPath  string
}

// Binary returns the path of the versitygw binary: EDGERAG_VERSITYGW_BIN,
// or else the one scripts/versitygw-server.sh caches under
// ${EDGERAG_CACHE:-$HOME/.cache/edgerag}, waiting for that script's build
// when `make test` is running it in the background (node/nodetest/toolbuild).
func Binary() (string, error) {
	if bin := os.Getenv("EDGERAG_VERSITYGW_BIN"); bin != "" {
		return bin, nil
	}
	return toolbuild.Binary("versitygw", cacheKey, "versitygw")
}

// Start runs a gateway for t with the given buckets created, and stops it
// when t ends. Without a binary it skips t.
func Start(t testing.TB, buckets ...string) *Server {
	t.Helper()
	bin, err := Binary()
	if errors.Is(err, toolbuild.ErrStillBuilding) {
		t.Fatalf("s3test: %v", err)
	}
	if err != nil {
		t.Skipf("s3test: no S3 server: %v; run 'make versitygw' (2-3 minutes, once) or set EDGERAG_VERSITYGW_BIN", err)
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
	addr, err := serverproc.FreeAddr()
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "--port", addr, "posix", s.Dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+AccessKey, "ROOT_SECRET_KEY="+SecretKey)
	endpoint := "http://" + addr
	// Any answer, even an S3 error for an unsigned request, means ready.
	p, err := serverproc.Start("the gateway", cmd, s.logPath, endpoint+"/", nil)
	if err != nil {
		return err
	}
	s.proc, s.Endpoint = p, endpoint
	return nil
}

// Stop stops the gateway (SIGTERM, SIGKILL after 5 s); stopping twice does
// nothing.
func (s *Server) Stop() { s.proc.Stop(5 * time.Second) }

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

func (s *Server) logTail() string { return serverproc.Tail(s.logPath, 30) }
