package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/sync/fleet"
)

// syncFleet is central and the files an edge needs, made with the CLI.
type syncFleet struct {
	tls, keys string
	central   *proc
}

func newSyncFleet(t *testing.T, centralArgs ...string) *syncFleet {
	t.Helper()
	f := &syncFleet{tls: fleetDir(t, "central", "edge-1"), keys: t.TempDir()}
	if out, err := exec.Command(binary, "sync", "keygen", "--out", f.keys).CombinedOutput(); err != nil {
		t.Fatalf("sync keygen: %v\n%s", err, out)
	}
	f.central = startProc(t, append([]string{"central", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0",
		"--tls-dir", f.tls, "--name", "central", "--sync-key", filepath.Join(f.keys, "sync.key"), "--no-sync"}, centralArgs...))
	return f
}

func (f *syncFleet) ingest(t *testing.T, ids []int, word string) {
	t.Helper()
	var docs []api.Document
	for _, i := range ids {
		docs = append(docs, api.Document{ID: fmt.Sprintf("doc-%03d", i), Shard: "manuals", Title: fmt.Sprintf("Machine %d", i),
			Body: fmt.Sprintf("To reset unit%d press the %s button. The %s lamp of unit%d blinks twice.", i, word, word, i)})
	}
	if _, err := testClient(f.central.url).Ingest(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
}

func (f *syncFleet) publish(t *testing.T) {
	t.Helper()
	out, err := exec.Command(binary, "publish", "--shard", "manuals", "--node", f.central.url, "--token", tokenOf(f.central.url)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "published shard manuals") {
		t.Fatalf("publish: %v\n%s", err, out)
	}
}

func (f *syncFleet) edgeArgs(data string) []string {
	return []string{"serve", "--data", data, "--http", "127.0.0.1:0", "--tls-dir", f.tls, "--name", "edge-1",
		"--central", f.central.quic, "--sync-pub", filepath.Join(f.keys, "sync.pub"), "--sync-poll", "100ms", "--sync-batch", "2048",
		"--escalate-below", "0"} // answers must come from the edge's own shard
}

// count returns how many documents of the shard a query for word finds
// (at most 50).
func count(t *testing.T, url, word string) int {
	t.Helper()
	r, err := testClient(url).Query(context.Background(), api.QueryRequest{Question: word, K: 50, Shard: "manuals"})
	if err != nil {
		if strings.Contains(err.Error(), "not held") {
			return 0
		}
		t.Fatal(err)
	}
	if r.Route != "local" {
		t.Fatalf("query %q left the node (route %q): the count would not be the edge's", word, r.Route)
	}
	n := 0
	for _, c := range r.Citations {
		if strings.Contains(c.Snippet, word) {
			n++
		}
	}
	return n
}

func syncStatus(t *testing.T, url string) fleet.EdgeStatus {
	t.Helper()
	resp, err := testGet(url + "/v1/sync")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st fleet.EdgeStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func waitApplied(t *testing.T, url string, min uint64) fleet.ShardStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, s := range syncStatus(t, url).Shards {
			if s.Shard == "manuals" && s.Applied >= min && s.Applied > 0 {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the edge did not apply a version >= %d: %+v", min, syncStatus(t, url))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFleetSyncProcesses runs central and an edge as processes: a
// published version reaches the edge, and a sync of the next version whose
// process is killed (SIGKILL, at a random step of the transfer) again and
// again leaves the edge serving the old or the new version, never a mix,
// verifying at most one chunk twice per kill; rollback works
// from the CLI.
func TestFleetSyncProcesses(t *testing.T) {
	f := newSyncFleet(t)
	f.ingest(t, rangeN(60), "blue")
	f.publish(t)
	data := t.TempDir()
	edge := startProc(t, f.edgeArgs(data))
	v1 := waitApplied(t, edge.url, 1).Applied
	if n := count(t, edge.url, "blue"); n != 50 {
		t.Fatalf("after the first sync 'blue' finds %d documents, want 50 (the most a query returns)", n)
	}
	edge.cmd.Process.Kill()
	edge.cmd.Wait()

	f.ingest(t, rangeN(40), "orange")
	f.publish(t)
	trace := filepath.Join(t.TempDir(), "trace")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	kills := 0
	// Eight kills a few steps into the transfer, then one at each later
	// phase: all fetched, records stored, version materialized, applied.
	points := []string{"staged", "recorded", "materialized", "applied"}
	for i := range 12 {
		at := strconv.Itoa(1 + rng.IntN(8))
		if i >= 8 {
			at = points[i-8]
		}
		cmd := exec.Command(binary, f.edgeArgs(data)...)
		cmd.Env = append(os.Environ(), "EDGERAG_TEST_SYNC_KILL_AT="+at, "EDGERAG_TEST_SYNC_TRACE="+trace)
		logs := new(syncBuffer)
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "killed") {
				t.Fatalf("edge exited without being killed: %v\n%s", err, logs)
			}
			kills++
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("edge was not killed by its hook:\n%s", logs)
		}
		// Look at what a restarted edge serves, with sync off.
		look := startProc(t, []string{"serve", "--data", data, "--http", "127.0.0.1:0", "--name", "edge-1"})
		blue, orange := count(t, look.url, "blue"), count(t, look.url, "orange")
		look.cmd.Process.Kill()
		look.cmd.Wait()
		if !(blue == 50 && orange == 0) && !(blue == 20 && orange == 40) {
			t.Fatalf("after kill %d (at %s) the edge finds 'blue' in %d and 'orange' in %d documents: a mix", kills, at, blue, orange)
		}
		if (orange == 40) != (at == "applied") {
			t.Fatalf("after kill %d (at %s) the edge serves the wrong version ('orange' in %d documents)", kills, at, orange)
		}
	}
	t.Setenv("EDGERAG_TEST_SYNC_TRACE", trace)
	edge = startProc(t, f.edgeArgs(data))
	st := waitApplied(t, edge.url, v1+1)
	if blue, orange := count(t, edge.url, "blue"), count(t, edge.url, "orange"); blue != 20 || orange != 40 {
		t.Fatalf("after the final sync 'blue' finds %d and 'orange' %d documents, want 20 and 40", blue, orange)
	}
	b, _ := os.ReadFile(trace)
	seen := map[string]int{}
	twice := 0
	for _, h := range strings.Fields(string(b)) {
		if seen[h]++; seen[h] > 1 {
			twice++
		}
	}
	if len(seen) != 40 || twice > kills {
		t.Fatalf("%d kills: %d distinct chunks verified (want 40), %d verified again (want at most one per kill)", kills, len(seen), twice)
	}
	t.Logf("%d kills; %d chunks verified twice; applied version %d", kills, twice, st.Applied)

	out, err := exec.Command(binary, "shard", "rollback", "--node", edge.url, "--token", tokenOf(edge.url), "manuals").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "rolled back") {
		t.Fatalf("shard rollback: %v\n%s", err, out)
	}
	if blue, orange := count(t, edge.url, "blue"), count(t, edge.url, "orange"); blue != 50 || orange != 0 {
		t.Fatalf("after rollback 'blue' finds %d and 'orange' %d documents", blue, orange)
	}
	out, err = exec.Command(binary, "sync", "status", "--node", edge.url, "--token", tokenOf(edge.url)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("applied %d", v1)) {
		t.Fatalf("sync status after rollback: %v\n%s", err, out)
	}
	// What an operator sees: the status page's sync table and the gauges.
	page := httpGet(t, edge.url+"/")
	if want := fmt.Sprintf(`<tr><td>manuals</td><td class="num">%d`, v1); !strings.Contains(page, want) {
		t.Errorf("status page lacks the sync row %q", want)
	}
	metrics := httpGet(t, edge.url+"/metrics")
	for _, want := range []string{
		fmt.Sprintf(`edgerag_sync_applied_version{shard="manuals"} %d`, v1),
		`edgerag_sync_healthy{shard="manuals"} 1`,
		`edgerag_sync_progress_ratio{shard="manuals"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := testGet(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

func rangeN(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
