// Package ollamatest gives tests a real Ollama server with the tiny models of
// package tinymodel installed, or skips them with one line saying how to get
// one.
//
// It is test support in a non-test file so that the tests of any package can
// import it. It never builds the server: that takes minutes and is the job of
// `make ollama` (scripts/ollama-server.sh), whose cache it looks in.
package ollamatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/edgerag/edgerag/models/ollama/tinymodel"
	"github.com/edgerag/edgerag/node/nodetest/toolbuild"
)

// Names the tiny models are installed under.
const (
	GenModel   = "edgerag-tiny-gen"
	EmbedModel = "edgerag-tiny-embed"
)

// OllamaVersion is the server version scripts/ollama-server.sh builds.
const OllamaVersion = "v0.24.0"

// cacheKey names the cache directory the binary is found in: the version and
// the build's flavour (Ollama's own engine only, without llama.cpp), as in
// scripts/ollama-server.sh.
const cacheKey = OllamaVersion + "-engine"

// Timeouts. The server is ready in about 0.2 s and a tiny model is created in
// milliseconds; the margins are for a machine busy with other builds.
const (
	readyTimeout   = 30 * time.Second
	installTimeout = 60 * time.Second
	stopTimeout    = 10 * time.Second
)

// Server is a running Ollama server with the tiny models installed.
type Server struct {
	// Host is the server's base URL, for example "http://127.0.0.1:40123".
	Host string
	// Client talks to the server.
	Client *api.Client
	// GenModel and EmbedModel name the installed tiny models.
	GenModel, EmbedModel string
	// ModelsDir is the server's OLLAMA_MODELS directory; empty for the
	// server at OLLAMA_HOST, whose directory is unknown.
	ModelsDir string

	t        testing.TB
	external bool // OLLAMA_HOST: not ours to stop
	bin      string
	addr     string // 127.0.0.1:port
	home     string
	logPath  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start returns a server for t. It uses the server at OLLAMA_HOST when that
// is set and answers; otherwise it starts the binary named by
// EDGERAG_OLLAMA_BIN, or else the one scripts/ollama-server.sh caches, on a
// free loopback port with its models and home in t.TempDir(). It installs
// the tiny models and stops the server when t ends. With no server to be
// had, it skips t.
func Start(t testing.TB) *Server {
	t.Helper()

	if host := os.Getenv("OLLAMA_HOST"); host != "" {
		if s, ok := external(t, host); ok {
			return s
		}
	}
	s := startOwn(t)
	s.install()
	return s
}

// StartEmpty starts a server of its own (never the one at OLLAMA_HOST) with
// no models, for tests that put models there themselves, such as shipping
// a model from one server to another. It skips t when there is no binary.
func StartEmpty(t testing.TB) *Server {
	t.Helper()
	return startOwn(t)
}

func startOwn(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if errors.Is(err, toolbuild.ErrStillBuilding) {
		t.Fatalf("ollamatest: %v", err)
	}
	if err != nil {
		t.Skipf("ollamatest: no Ollama server: %v; run 'make ollama' to build one, or set OLLAMA_HOST to a running server", err)
	}

	dir := t.TempDir()
	s := &Server{
		GenModel:   GenModel,
		EmbedModel: EmbedModel,
		t:          t,
		bin:        bin,
		ModelsDir:  filepath.Join(dir, "models"),
		home:       dir,
		logPath:    filepath.Join(dir, "ollama.log"),
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("ollamatest: server log (last lines of %s):\n%s", s.logPath, s.logTail())
		}
	})

	// The free port is found by binding and releasing it, so another process
	// can take it in between; a few tries make that race harmless.
	var startErr error
	for range 3 {
		if startErr = s.start(""); startErr == nil {
			break
		}
	}
	if startErr != nil {
		t.Fatalf("ollamatest: cannot start %s: %v\n%s", bin, startErr, s.logTail())
	}
	return s
}

// Binary returns the path of the Ollama server binary that Start runs:
// EDGERAG_OLLAMA_BIN, or else the one scripts/ollama-server.sh caches under
// ${EDGERAG_CACHE:-$HOME/.cache/edgerag}, waiting for that script's build
// when `make test` is running it in the background (node/nodetest/toolbuild).
// It fails when there is none.
func Binary() (string, error) {
	if bin := os.Getenv("EDGERAG_OLLAMA_BIN"); bin != "" {
		if err := executable(bin); err != nil {
			return "", fmt.Errorf("EDGERAG_OLLAMA_BIN=%s: %w", bin, err)
		}
		return bin, nil
	}
	return toolbuild.Binary("ollama", cacheKey, "ollama")
}

func executable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// external uses a server the developer runs, installing the tiny models on
// it. It reports false when the server does not answer, so Start can run
// its own instead.
func external(t testing.TB, host string) (*Server, bool) {
	t.Helper()
	base, err := hostURL(host)
	if err != nil {
		t.Fatalf("ollamatest: OLLAMA_HOST=%q: %v", host, err)
	}
	client := api.NewClient(base, &http.Client{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := client.Heartbeat(ctx); err != nil {
		t.Logf("ollamatest: OLLAMA_HOST=%s does not answer (%v); starting a server of our own", host, err)
		return nil, false
	}
	s := &Server{
		Host: base.String(), Client: client,
		GenModel: GenModel, EmbedModel: EmbedModel,
		t: t, external: true,
	}
	s.install()
	return s, true
}

// hostURL accepts what OLLAMA_HOST accepts: "host:port", "host", or a URL.
func hostURL(host string) (*url.URL, error) {
	if !strings.Contains(host, "://") {
		host = "http://" + host
	}
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("not a host or URL: %w", err)
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), "11434")
	}
	return u, nil
}

func (s *Server) install() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	for _, m := range []struct {
		name string
		kind tinymodel.Kind
	}{{s.GenModel, tinymodel.Generation}, {s.EmbedModel, tinymodel.Embedding}} {
		if err := tinymodel.Install(ctx, s.Client, m.name, m.kind); err != nil {
			s.t.Fatalf("ollamatest: install tiny %s model: %v\n%s", m.kind, err, s.logTail())
		}
	}
}

// start runs `ollama serve` on addr, or on a free port when addr is empty,
// and waits until it answers.
func (s *Server) start(addr string) error {
	if addr == "" {
		var err error
		if addr, err = freeAddr(); err != nil {
			return err
		}
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open server log: %w", err)
	}
	defer logf.Close() // the child keeps its own descriptor

	cmd := exec.Command(s.bin, "serve")
	cmd.Env = serverEnv(addr, s.home)
	cmd.Dir = s.home
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so that Stop reaches the model runners the
	// server spawns as well.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s serve: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() { // ends when the server exits, which Stop guarantees
		_ = cmd.Wait()
		close(done)
	}()

	base := &url.URL{Scheme: "http", Host: addr}
	client := api.NewClient(base, &http.Client{})
	if err := waitReady(client, done); err != nil {
		terminate(cmd, done)
		return err
	}

	s.mu.Lock()
	s.cmd, s.done, s.addr = cmd, done, addr
	s.Host, s.Client = base.String(), client
	s.mu.Unlock()
	return nil
}

func serverEnv(addr, home string) []string {
	env := []string{}
	for _, kv := range os.Environ() {
		// The developer's own Ollama settings must not leak into the test
		// server, and HOME is replaced so it never touches ~/.ollama.
		if strings.HasPrefix(kv, "OLLAMA_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+home,
		"OLLAMA_HOST="+addr,
		"OLLAMA_MODELS="+filepath.Join(home, "models"), // Server.ModelsDir
		"OLLAMA_NO_CLOUD=1",
		"OLLAMA_NUM_PARALLEL=1", // one KV cache per model keeps runners small
	)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitReady(client *api.Client, done <-chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := client.Heartbeat(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return errors.New("server exited before it was ready")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server not ready after %s: %w", readyTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// terminate sends SIGTERM to the server's process group and waits for the
// server to exit, killing the group if it will not. SIGTERM comes first
// because a SIGKILLed server leaves its model runners behind.
func terminate(cmd *exec.Cmd, done <-chan struct{}) {
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
	// Runners may outlive the server by a moment; they are in its group.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// Stop stops the server; calls then fail until Restart. Stopping a stopped
// server does nothing. On a server from OLLAMA_HOST, which is not ours to
// stop, it skips the test.
func (s *Server) Stop() {
	s.t.Helper()
	if s.external {
		s.t.Skip("ollamatest: cannot stop the server at OLLAMA_HOST; unset OLLAMA_HOST to run this test")
	}
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd, s.done = nil, nil
	s.mu.Unlock()
	if cmd != nil {
		terminate(cmd, done)
	}
}

// Restart stops the server if it runs and starts it again on the same
// address with the same models, so clients made before keep working.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.mu.Lock()
	addr := s.addr
	s.mu.Unlock()
	var err error
	// The old listener's port is normally free at once; allow for a slow
	// release on a busy machine.
	for range 10 {
		if err = s.start(addr); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("ollamatest: restart server on %s: %v\n%s", addr, err, s.logTail())
}

// logTail returns the last lines of the server's log, for failure messages.
func (s *Server) logTail() string {
	if s.logPath == "" {
		return ""
	}
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return ""
	}
	const maxLines = 30
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
