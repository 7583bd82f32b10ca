package scripts

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// step is one block of the README's walkthrough: shell commands to run in
// order, or (file set) the contents of a file the commands use.
type step struct {
	file string
	text string
}

// walkthrough extracts the fenced blocks that follow a
// `<!-- walkthrough -->` (commands) or `<!-- walkthrough: FILE -->` (a file)
// line, in order.
func walkthrough(readme string) ([]step, error) {
	var steps []step
	lines := strings.Split(readme, "\n")
	for i := 0; i < len(lines); i++ {
		marker, ok := strings.CutPrefix(strings.TrimSpace(lines[i]), "<!-- walkthrough")
		if !ok {
			continue
		}
		marker = strings.TrimSpace(strings.TrimSuffix(marker, "-->"))
		file := strings.TrimSpace(strings.TrimPrefix(marker, ":"))
		if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "```") {
			return nil, fmt.Errorf("README line %d: a walkthrough marker must be followed by a fenced block", i+1)
		}
		var body []string
		j := i + 2
		for ; j < len(lines) && !strings.HasPrefix(lines[j], "```"); j++ {
			body = append(body, lines[j])
		}
		if j == len(lines) {
			return nil, fmt.Errorf("README line %d: the walkthrough block is not closed", i+2)
		}
		steps = append(steps, step{file: file, text: strings.Join(body, "\n") + "\n"})
		i = j
	}
	return steps, nil
}

// commands splits a shell block into commands: continuation lines joined,
// comment lines and blank lines dropped.
func commands(block string) []string {
	var out []string
	var cur strings.Builder
	for _, l := range strings.Split(block, "\n") {
		t := strings.TrimSpace(l)
		if cur.Len() == 0 && (t == "" || strings.HasPrefix(t, "#")) {
			continue
		}
		if c, ok := strings.CutSuffix(t, "\\"); ok {
			cur.WriteString(strings.TrimSpace(c) + " ")
			continue
		}
		cur.WriteString(t)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

var loopbackPort = regexp.MustCompile(`127\.0\.0\.1:(\d{2,5})`)

// freePorts maps every loopback port the steps name to a free one, so the
// walkthrough can run beside other tests; the commands are otherwise kept.
func freePorts(t *testing.T, steps []step) {
	t.Helper()
	ports := map[string]string{}
	for i := range steps {
		steps[i].text = loopbackPort.ReplaceAllStringFunc(steps[i].text, func(m string) string {
			p := m[len("127.0.0.1:"):]
			if ports[p] == "" {
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				ports[p] = fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
				l.Close()
			}
			return "127.0.0.1:" + ports[p]
		})
	}
}

var httpFlag = regexp.MustCompile(`--http (\S+)`)

// TestReadmeWalkthrough runs "A fleet on one machine" as a reader would,
// from a scratch copy of what it needs (bin/edgerag, scripts/sample): every
// command must succeed, a command ending in & must bring up a node, and the
// last ones must show both edges and a cited answer. A reader re-runs a
// status command that shows the fleet still settling; so does the test, for
// up to 20 s.
func TestReadmeWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("readme: skipped in -short mode (it builds edgerag and runs three nodes)")
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	steps, err := walkthrough(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) < 3 {
		t.Fatalf("the README has %d walkthrough blocks; expected the fleet on one machine", len(steps))
	}
	freePorts(t, steps)

	dir := t.TempDir()
	bin := buildEdgerag(t)
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bin, filepath.Join(dir, "bin", "edgerag")); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dir, "scripts", "sample"), os.DirFS("sample")); err != nil {
		t.Fatal(err)
	}

	want := map[string][]string{
		"bin/edgerag sync status": {"manuals", "applied 1", "fleet config v1"},
		"bin/edgerag fleet":       {"edge-1", "edge-2", "manuals@1"},
		"bin/edgerag query":       {"Sources:"},
	}
	for _, s := range steps {
		if s.file != "" {
			if err := os.WriteFile(filepath.Join(dir, s.file), []byte(s.text), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		for _, c := range commands(s.text) {
			if bg, ok := strings.CutSuffix(c, "&"); ok {
				startNode(t, dir, strings.TrimSpace(bg))
				continue
			}
			var expect []string
			for prefix, w := range want {
				if strings.HasPrefix(c, prefix) {
					expect = w
				}
			}
			runUntil(t, dir, c, expect)
		}
	}
}

// runUntil runs c in dir; it must succeed, and (retried for up to 20 s)
// print every string of expect.
func runUntil(t *testing.T, dir, c string, expect []string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		cmd := exec.Command("bash", "-c", c)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("README command failed: %s\n%v\n%s", c, err, out)
		}
		missing := ""
		for _, w := range expect {
			if !strings.Contains(string(out), w) {
				missing = w
			}
		}
		if missing == "" {
			t.Logf("$ %s\n%s", c, out)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("README command %s: no %q after 20 s:\n%s", c, missing, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// startNode runs a node command in the background, as the README's & does,
// and waits until its HTTP API is ready; it is stopped when t ends.
func startNode(t *testing.T, dir, c string) {
	t.Helper()
	m := httpFlag.FindStringSubmatch(c)
	if m == nil {
		t.Fatalf("README background command without --http: %s", c)
	}
	cmd := exec.Command("bash", "-c", "exec "+c)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("log of %s:\n%s", c, logs.String())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m[1]+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("README command exited: %s: %v\n%s", c, err, logs.String())
		case <-ctx.Done():
			t.Fatalf("README command not ready after a minute: %s\n%s", c, logs.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestWalkthroughParse: the extractor's rules, on a small README.
func TestWalkthroughParse(t *testing.T) {
	steps, err := walkthrough("text\n<!-- walkthrough -->\n```sh\n# a comment\nbin/x a \\\n    --b c &\n\nbin/y # note\n```\n<!-- walkthrough: f.toml -->\n```toml\nk = 1\n```\n")
	if err != nil || len(steps) != 2 || steps[1].file != "f.toml" || steps[1].text != "k = 1\n" {
		t.Fatalf("%+v %v", steps, err)
	}
	if got := commands(steps[0].text); len(got) != 2 || got[0] != "bin/x a --b c &" || got[1] != "bin/y # note" {
		t.Errorf("commands %q", got)
	}
	if _, err := walkthrough("<!-- walkthrough -->\nnot a block\n"); err == nil {
		t.Error("a marker without a block was accepted")
	}
}
