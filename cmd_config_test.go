package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/agent"
	"github.com/edgerag/edgerag/node/cmdline"
	"github.com/edgerag/edgerag/node/config"
)

// TestConfigDocUpToDate fails when docs/config.md no longer matches the
// flags of 'edgerag serve': a flag was added, renamed or documented anew.
func TestConfigDocUpToDate(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"config", "doc"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile("docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, out.Bytes()) {
		t.Errorf("docs/config.md is stale: run 'go run . config doc > docs/config.md'")
	}
}

// TestConfigKeysAreServeFlags: every flag of serve and central is a key,
// except --config itself, so the file cannot drift from the flags.
func TestConfigKeysAreServeFlags(t *testing.T) {
	for _, role := range []string{"edge", "central"} {
		fs := nodeFlags(role)
		s, err := cmdline.Schema(fs, agent.ConfigTables())
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		fs.VisitAll(func(f *flag.Flag) {
			if f.Name == cmdline.ConfigFlag {
				return
			}
			n++
			if _, ok := s.Lookup(f.Name); !ok {
				t.Errorf("%s: --%s is not a configuration key", role, f.Name)
			}
		})
		if n != len(s.Keys) || n < 20 {
			t.Errorf("%s: %d flags, %d keys", role, n, len(s.Keys))
		}
		if m := config.Missing(fs, agent.ConfigTables()); len(m) > 0 && role == "edge" {
			t.Errorf("agent.ConfigTables lists flags serve does not have: %v", m)
		}
	}
}

// TestNodeConfigPrecedence runs the real flag set of serve through the
// command line, a fake environment and a file: flag > env > file > default.
func TestNodeConfigPrecedence(t *testing.T) {
	file := `http = "127.0.0.1:1001"
data = "/from/file"

[models]
gen-model = "file-model"
num-ctx = 2048

[fleet]
query-timeout = "9s"
`
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want map[string]string
	}{
		{"file over defaults", nil, nil, map[string]string{
			"http": "127.0.0.1:1001", "data": "/from/file", "gen-model": "file-model", "num-ctx": "2048",
			"query-timeout": "9s", "log-format": "text", "central-cooldown": "30s"}},
		{"env over file", nil, map[string]string{"EDGERAG_HTTP": "127.0.0.1:1002", "EDGERAG_LOG_FORMAT": "json", "EDGERAG_OPTS": "--whatever"},
			map[string]string{"http": "127.0.0.1:1002", "log-format": "json", "data": "/from/file"}},
		{"flag over env and file", []string{"--http", "127.0.0.1:1003", "--num-ctx=512"},
			map[string]string{"EDGERAG_HTTP": "127.0.0.1:1002", "EDGERAG_NUM_CTX": "1024"},
			map[string]string{"http": "127.0.0.1:1003", "num-ctx": "512", "gen-model": "file-model"}},
		{"config file named by the environment", nil, map[string]string{"EDGERAG_CONFIG": "node.toml"},
			map[string]string{"http": "127.0.0.1:1001"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := nodeFlags("edge")
			args := tc.args
			if tc.env["EDGERAG_CONFIG"] == "" {
				args = append(args, "--config", "node.toml")
			}
			if err := cmdline.Parse(fs, args); err != nil {
				t.Fatal(err)
			}
			env := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			read := func(p string) ([]byte, error) {
				if p != "node.toml" {
					t.Fatalf("read %q", p)
				}
				return []byte(file), nil
			}
			if err := cmdline.LoadConfig(fs, agent.ConfigTables(), fs.Lookup(cmdline.ConfigFlag).Value.String(), env, read); err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.want {
				if got := fs.Lookup(k).Value.String(); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// TestServeWithConfigFile starts a node from a file and the environment, as
// systemd does, and checks what the CLI says about a broken file.
func TestServeWithConfigFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "node.toml")
	data := filepath.Join(dir, "data")
	if err := os.WriteFile(good, []byte("data = \""+data+"\"\nname = \"from-file\"\nhttp = \"127.0.0.1:1\"\n\n[log]\nlog-level = \"debug\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary, "config", "check", good).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok, 4 keys set") {
		t.Fatalf("config check of a good file: %v\n%s", err, out)
	}

	// The environment beats the file (port 1 is not ours to listen on).
	t.Setenv("EDGERAG_HTTP", "127.0.0.1:0")
	t.Setenv("EDGERAG_LOG_FORMAT", "json")
	p := startProc(t, []string{"serve", "--config", good})
	st, err := testClient(p.url).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Node != "from-file" {
		t.Errorf("node name %q, want the file's from-file", st.Node)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.logs.String(), `"level":"DEBUG"`) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := testClient(p.url).Status(context.Background()); err != nil || !strings.Contains(p.logs.String(), `"msg":"http"`) {
		t.Errorf("want JSON debug logs (level from the file, format from the environment):\n%s", p.logs)
	}
	if _, err := os.Stat(data); err != nil {
		t.Errorf("data directory from the file: %v", err)
	}

	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("data = \"/d\"\nhtpp = \"x\"\n[models]\nnum-ctx = \"big\"\n[fleet]\nquery-timeout = \"5 parsecs\"\nescalate-below = 2\n[log]\nlog-format = \"xml\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "config", "check", bad)
	out, err = cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 {
		t.Errorf("config check of a bad file: exit %v, want 1", err)
	}
	for _, w := range []string{bad + `:2: unknown key "htpp"`, bad + `:4: num-ctx: want an integer`, bad + `:6: query-timeout = 5 parsecs: not a duration`,
		// Values serve would refuse at start are refused by the check too.
		bad + `:7: escalate-below = 2: 2 is outside 0..1`, bad + `:9: log-format = xml: "xml" is not one of text, json`} {
		if !strings.Contains(string(out), w) {
			t.Errorf("config check output lacks %q:\n%s", w, out)
		}
	}
	cmd = exec.Command(binary, "serve", "--config", bad)
	out, _ = cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), bad+":2:") {
		t.Errorf("serve with a bad file: exit %d, want 2 naming line 2:\n%s", cmd.ProcessState.ExitCode(), out)
	}

	// The default file is valid and sets nothing.
	def, err := exec.Command(binary, "config", "default").Output()
	if err != nil {
		t.Fatal(err)
	}
	defPath := filepath.Join(dir, "default.toml")
	if err := os.WriteFile(defPath, def, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(binary, "config", "check", defPath).CombinedOutput(); err != nil || !strings.Contains(string(out), "ok, 0 keys set") {
		t.Errorf("config check of 'config default': %v\n%s", err, out)
	}
}
