package conformance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"

	"io"
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

	"github.com/edgerag/edgerag/models/ollama/ollamatest"
	"github.com/edgerag/edgerag/node/nodetest/toolbuild"
)

const question = "How do I reset the pump after a fault?"

// docs are what the node answers from: the question is about the pump.
const docs = `{"documents":[
 {"id":"pump-manual","title":"Pump manual","body":"Resetting the pump. To reset the pump after a fault, hold the reset button for five seconds until the green light blinks. The pump restarts by itself after a power cut."},
 {"id":"press-manual","title":"Press manual","body":"Hydraulic oil. The press uses ISO VG 46 hydraulic oil. Change the oil every 2000 hours of operation."}]}`

// TestOfficialClients runs js/clients.test.mjs (the openai and ollama
// packages) and the Ollama CLI against a node answering extractively with
// no embedding model, then, when the Ollama server is built, against a node
// using a tiny generation and embedding model on it.
func TestOfficialClients(t *testing.T) {
	if testing.Short() {
		t.Skip("conformance: skipped in -short mode (it builds edgerag and installs npm packages)")
	}
	modules := npmModules(t) // skips without node, npm or the registry
	bin := buildEdgerag(t)

	t.Run("bm25-only", func(t *testing.T) {
		u := startNode(t, bin)
		runClients(t, modules, u, "")
		t.Run("ollama-cli", func(t *testing.T) { runOllamaCLI(t, u, "") })
	})
	t.Run("with-ollama", func(t *testing.T) {
		s := ollamatest.Start(t) // skips without the Ollama server
		u := startNode(t, bin, "--ollama", s.Host, "--gen-model", s.GenModel, "--embed-model", s.EmbedModel, "--num-thread", "1")
		runClients(t, modules, u, s.EmbedModel+":latest")
		t.Run("ollama-cli", func(t *testing.T) { runOllamaCLI(t, u, s.EmbedModel+":latest") })
	})
}

// cacheRoot is where scripts/ keep what they build and download.
func cacheRoot(t *testing.T) string {
	if c := os.Getenv("EDGERAG_CACHE"); c != "" {
		return c
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Skipf("conformance: no cache directory (set EDGERAG_CACHE or HOME): %v", err)
	}
	return filepath.Join(home, ".cache", "edgerag")
}

var npmOnce sync.Mutex

// npmModules installs js/package-lock.json's packages once per lockfile
// (npm ci into ${EDGERAG_CACHE}/npm/<lockfile hash>) and returns the
// node_modules directory. It skips t, in one line, without node and npm or
// without a way to the npm registry.
func npmModules(t *testing.T) string {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("conformance: no %s on PATH; install Node.js 18 or newer to run the official openai and ollama clients", tool)
		}
	}
	lock, err := os.ReadFile(filepath.Join("js", "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(lock)
	npmRoot := filepath.Join(cacheRoot(t), "npm")
	dir := filepath.Join(npmRoot, hex.EncodeToString(sum[:8]))
	modules := filepath.Join(dir, "node_modules")
	npmOnce.Lock()
	defer npmOnce.Unlock()
	if _, err := os.Stat(filepath.Join(modules, ".package-lock.json")); err == nil {
		return modules
	}
	if err := os.MkdirAll(npmRoot, 0o755); err != nil {
		t.Skipf("conformance: cannot create the npm cache %s: %v", npmRoot, err)
	}
	tmp, err := os.MkdirTemp(npmRoot, "install-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	for _, f := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join("js", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--cache", filepath.Join(npmRoot, "_cache"))
	cmd.Dir = tmp
	out, err := cmd.CombinedOutput()
	if err != nil {
		if s := string(out); strings.Contains(s, "ENOTFOUND") || strings.Contains(s, "EAI_AGAIN") || strings.Contains(s, "ECONNREFUSED") ||
			strings.Contains(s, "ETIMEDOUT") || strings.Contains(s, "network") || ctx.Err() != nil {
			t.Skipf("conformance: no network to the npm registry (npm ci: %s)", firstLine(s))
		}
		t.Fatalf("npm ci in %s: %v\n%s", tmp, err, out)
	}
	// A rename is atomic: a concurrent run either sees no modules or all.
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, os.ErrExist) {
		if _, statErr := os.Stat(modules); statErr != nil {
			t.Fatalf("caching the npm install: %v", err)
		}
	}
	return modules
}

func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); strings.Contains(l, "ERR") {
			return l
		}
	}
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

// buildEdgerag builds the binary from the repository root.
func buildEdgerag(t *testing.T) string {
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "edgerag")
	cmd := toolbuild.Edgerag(root, bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// adminTokens maps a started node's URL to the admin token it wrote.
var adminTokens sync.Map

// startNode runs `edgerag serve` on a free loopback port, ingests docs and
// returns the node's URL; the node is stopped when t ends.
func startNode(t *testing.T, bin string, extra ...string) string {
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	// The Ollama CLI and library send no token: anonymous clients may
	// query. The OpenAI clients send theirs (EDGERAG_TOKEN below).
	args := append([]string{"serve", "--data", filepath.Join(dir, "db"), "--http", "127.0.0.1:0", "--name", "conformance",
		"--ready-file", ready, "--log-level", "warn", "--anonymous", "query"}, extra...)
	cmd := exec.Command(bin, args...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("node log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(ready); err == nil && len(b) > 0 {
			u := strings.TrimSpace(string(b))
			tok, err := os.ReadFile(filepath.Join(dir, "db", "admin.token"))
			if err != nil {
				t.Fatal(err)
			}
			adminTokens.Store(u, strings.TrimSpace(string(tok)))
			req, _ := http.NewRequest(http.MethodPost, u+"/v1/documents", strings.NewReader(docs))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("ingest: %d %s", resp.StatusCode, body)
			}
			return u
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("edgerag serve exited: %v\n%s", err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("edgerag serve not ready after 60 s\n%s", logs.String())
		}
	}
}

// runClients runs js/clients.test.mjs with node's test runner against u.
func runClients(t *testing.T, modules, u, embedModel string) {
	// The script runs from a scratch directory whose node_modules is the
	// cached install, so nothing is written to the repository.
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("js", "clients.test.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "clients.test.mjs"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "--test-reporter=spec", "clients.test.mjs")
	cmd.Dir = dir
	tok, _ := adminTokens.Load(u)
	cmd.Env = append(os.Environ(), "EDGERAG_URL="+u, "EDGERAG_TOKEN="+tok.(string), "EDGERAG_EMBED_MODEL="+embedModel, "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the official clients failed against the node: %v\n%s", err, out)
	}
	t.Logf("official clients:\n%s", out)
}

// runOllamaCLI runs `ollama list|show|ps|run` against u as a user would,
// with OLLAMA_HOST pointing at the node.
func runOllamaCLI(t *testing.T, u, embedModel string) {
	bin, err := ollamatest.Binary()
	if err != nil {
		t.Skipf("conformance: no Ollama CLI (%v); run 'make ollama' to build it", err)
	}
	host, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	ollama := func(stdin string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), "OLLAMA_HOST="+host.Host, "HOME="+home, "NO_COLOR=1")
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, c := range []struct {
		stdin string
		args  []string
		want  []string
	}{
		{"", []string{"list"}, []string{"edgerag:latest"}},
		{"", []string{"show", "edgerag"}, []string{"architecture", "edgerag", "completion"}},
		{"", []string{"show", "--modelfile", "edgerag"}, []string{"FROM edgerag"}},
		{"", []string{"ps"}, []string{"edgerag:latest", "Forever"}},
		{"", []string{"run", "edgerag", question}, []string{"Sources:", "pump-manual"}},
		{question, []string{"run", "edgerag"}, []string{"Sources:", "pump-manual"}},
	} {
		out, err := ollama(c.stdin, c.args...)
		if err != nil {
			t.Errorf("ollama %s: %v\n%s", strings.Join(c.args, " "), err, out)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("ollama %s: no %q in:\n%s", strings.Join(c.args, " "), w, out)
			}
		}
	}
	if out, err := ollama("", "run", "llama3", question); err == nil || !strings.Contains(out, "llama3") {
		t.Errorf("ollama run llama3 (not served): %v\n%s", err, out)
	}
	if embedModel != "" {
		out, err := ollama("", "run", embedModel, "pump")
		if err != nil || !strings.HasPrefix(strings.TrimSpace(out), "[") {
			t.Errorf("ollama run %s: %v\n%s", embedModel, err, out)
		}
		if out, err := ollama("", "ps"); err != nil || !strings.Contains(out, embedModel) {
			t.Errorf("ollama ps lists no %s: %v\n%s", embedModel, err, out)
		}
	}
}
