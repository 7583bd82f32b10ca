package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/api"
)

// smallDisk makes an ext4 file system of size bytes in a file and
// loop-mounts it; it needs root. ext4 rather than tmpfs because tmpfs also
// faults on reading a hole of a full disk, which real devices' file systems
// do not.
func smallDisk(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIP: the full-disk test loop-mounts a small file system, which needs root; run the tests as root to check disk-full handling")
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	// -m 0: no blocks reserved for root, so the disk is full for the node
	// when it is full for everyone.
	if out, err := exec.Command("mkfs.ext4", "-q", "-m", "0", img).CombinedOutput(); err != nil {
		t.Skipf("SKIP: mkfs.ext4 failed (%v: %s); the full-disk test needs e2fsprogs", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, dir).CombinedOutput(); err != nil {
		t.Skipf("SKIP: cannot loop-mount a file system (%v: %s); the full-disk test needs loop devices", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	return dir
}

// freeBytes is what the disk holding dir has free for the node.
func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// fill writes a file until the disk has about left bytes free; with left 0
// it goes on in ever smaller writes until not one more byte fits.
func fill(t *testing.T, dir string, left int64) string {
	t.Helper()
	free := freeBytes(t, dir)
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for n := int64(0); n < free-left; n += int64(len(buf)) {
		if _, err := f.Write(buf[:min(int64(len(buf)), free-left-n)]); err != nil {
			break
		}
	}
	if left == 0 {
		for _, size := range []int{64 << 10, 4 << 10, 512, 1} {
			for {
				if _, err := f.Write(buf[:size]); err != nil {
					break
				}
			}
		}
		if got := freeBytes(t, dir); got != 0 {
			t.Fatalf("the disk still has %d bytes free after filling it", got)
		}
	}
	return path
}

func ingestStatus(t *testing.T, url string, doc api.Document) (int, api.Error) {
	t.Helper()
	b, _ := json.Marshal(doc)
	req, err := http.NewRequest(http.MethodPost, url+"/v1/documents", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	authorize(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("ingest: %v (did the node crash?)", err)
	}
	defer resp.Body.Close()
	var body struct {
		Error api.Error `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Error
}

func readyStorage(t *testing.T, url string) string {
	t.Helper()
	resp, err := testGet(url + "/readyz")
	if err != nil {
		t.Fatalf("readyz: %v", err)
	}
	defer resp.Body.Close()
	var body map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz %d %v: a node with a full disk still answers queries, so it is ready", resp.StatusCode, body)
	}
	return body["storage"]
}

// TestDiskFullRefusesWritesKeepsAnswering fills the node's disk while it
// runs and after a kill -9: writes get 507 saying what to free, queries go
// on, the node starts on the full disk, and writes resume once space is
// back.
func TestDiskFullRefusesWritesKeepsAnswering(t *testing.T) {
	ctx := context.Background()
	disk := smallDisk(t, 160<<20)
	data := filepath.Join(disk, "data")
	p := startNode(t, data)
	c := testClient(p.url)
	doc := func(i int) api.Document {
		return api.Document{ID: fmt.Sprintf("d%d", i), Body: fmt.Sprintf("Valve V-%d is checked with marker word zqdisk%d.", i, i)}
	}
	for i := range 20 {
		if _, err := c.Ingest(ctx, []api.Document{doc(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if s := readyStorage(t, p.url); s != "ok" {
		t.Fatalf("storage %q before the disk filled, want ok", s)
	}

	filler := fill(t, disk, 20<<20) // below the 64 MB reserve
	status, e := ingestStatus(t, p.url, doc(100))
	if status != http.StatusInsufficientStorage || e.Code != api.CodeStorageFull || !strings.Contains(e.Message, "free space") {
		t.Fatalf("ingest on a full disk: %d %+v; want 507 storage_full saying what to free", status, e)
	}
	if s := readyStorage(t, p.url); !strings.HasPrefix(s, "full") {
		t.Errorf("readyz storage %q on a full disk, want it to say full", s)
	}
	q, err := c.Query(ctx, api.QueryRequest{Question: "zqdisk7", K: 1})
	if err != nil || len(q.Citations) == 0 || q.Citations[0].DocumentID != "d7" {
		t.Fatalf("query on a full disk: %v %+v", err, q.Citations)
	}

	// Space comes back: writes resume without a restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if status, e := ingestStatus(t, p.url, doc(101)); status != http.StatusOK {
		t.Fatalf("ingest after space came back: %d %+v", status, e)
	}

	// Fill the disk, kill the node and start it again on the full disk.
	filler = fill(t, disk, 0)
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
	p2 := startNode(t, data)
	if s := readyStorage(t, p2.url); !strings.HasPrefix(s, "read-only") && !strings.HasPrefix(s, "full") {
		t.Errorf("readyz storage %q after starting on a full disk, want read-only or full", s)
	}
	c2 := testClient(p2.url)
	q, err = c2.Query(ctx, api.QueryRequest{Question: "zqdisk101", K: 1})
	if err != nil || len(q.Citations) == 0 || q.Citations[0].DocumentID != "d101" {
		t.Fatalf("query after starting on a full disk: %v %+v", err, q.Citations)
	}
	if status, e := ingestStatus(t, p2.url, doc(102)); status != http.StatusInsufficientStorage {
		t.Fatalf("ingest into a read-only node: %d %+v, want 507", status, e)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var ee *exec.ExitError
	if err := p2.cmd.Wait(); err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	p3 := startNode(t, data)
	if status, e := ingestStatus(t, p3.url, doc(103)); status != http.StatusOK {
		t.Fatalf("ingest after restart with space: %d %+v", status, e)
	}
}

// stopCleanly sends SIGTERM and fails the test if the node crashed on its
// way out (a Go runtime fault exits with status 2 and says so).
func stopCleanly(t *testing.T, p *proc) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := p.cmd.Wait()
	if logs := p.logs.String(); strings.Contains(logs, "SIGBUS") || strings.Contains(logs, "fatal error") {
		t.Fatalf("the node crashed while stopping (%v):\n%s", err, logs)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
}

// TestDiskFullCleanStopRestartRecovers stops a node cleanly on a disk with
// not one byte free and starts it again there: it must come up read-only
// and say so, answer every acknowledged document, refuse writes with 507
// saying what to free, and take writes again by itself, without a restart,
// once space is freed. Nothing acknowledged is lost.
func TestDiskFullCleanStopRestartRecovers(t *testing.T) {
	ctx := context.Background()
	disk := smallDisk(t, 160<<20)
	data := filepath.Join(disk, "data")
	p := startNode(t, data)
	c := testClient(p.url)
	doc := func(i int) api.Document {
		return api.Document{ID: fmt.Sprintf("d%d", i), Body: fmt.Sprintf("Pump P-%d is primed with marker word zqfull%d.", i, i)}
	}
	var acked []int
	for i := range 30 {
		if _, err := c.Ingest(ctx, []api.Document{doc(i)}); err != nil {
			t.Fatal(err)
		}
		acked = append(acked, i)
	}
	filler := fill(t, disk, 0)
	// The stop cannot flush Badger's write-ahead log into a table (that
	// would fault): it leaves the log for the next start.
	stopCleanly(t, p)

	p2 := startNode(t, data)
	s := readyStorage(t, p2.url)
	if !strings.HasPrefix(s, "read-only") || !strings.Contains(s, "full") {
		t.Fatalf("readyz storage %q after starting on a full disk, want read-only saying the disk was full", s)
	}
	c2 := testClient(p2.url)
	for _, i := range acked {
		q, err := c2.Query(ctx, api.QueryRequest{Question: fmt.Sprintf("zqfull%d", i), K: 1})
		if err != nil || len(q.Citations) == 0 || q.Citations[0].DocumentID != fmt.Sprintf("d%d", i) {
			t.Fatalf("query for acknowledged d%d on the read-only node: %v %+v", i, err, q.Citations)
		}
	}
	status, e := ingestStatus(t, p2.url, doc(100))
	if status != http.StatusInsufficientStorage || e.Code != api.CodeStorageFull || !strings.Contains(e.Message, "free at least") || !strings.Contains(e.Message, "by itself") {
		t.Fatalf("ingest into the read-only node: %d %+v; want 507 storage_full saying what to free and that writes come back by themselves", status, e)
	}
	page := statusPage(t, p2.url)
	if !strings.Contains(page, "read-only") {
		t.Errorf("the status page does not say the store is read-only")
	}

	// Space comes back: the same process takes writes within seconds.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, e = ingestStatus(t, p2.url, doc(100))
		if status == http.StatusOK {
			break
		}
		if status != http.StatusInsufficientStorage || time.Now().After(deadline) {
			t.Fatalf("ingest after space came back: %d %+v; want 200 within 15 s, without a restart", status, e)
		}
		time.Sleep(200 * time.Millisecond)
	}
	acked = append(acked, 100)
	if s := readyStorage(t, p2.url); s != "ok" {
		t.Errorf("readyz storage %q once writable again, want ok", s)
	}
	q, err := c2.Query(ctx, api.QueryRequest{Question: "zqfull100", K: 1})
	if err != nil || len(q.Citations) == 0 || q.Citations[0].DocumentID != "d100" {
		t.Fatalf("query for the document written after recovery: %v %+v", err, q.Citations)
	}

	// kill -9 the recovered node: every acknowledged write is still there.
	_ = p2.cmd.Process.Signal(syscall.SIGKILL)
	_ = p2.cmd.Wait()
	p3 := startNode(t, data)
	c3 := testClient(p3.url)
	for _, i := range acked {
		q, err := c3.Query(ctx, api.QueryRequest{Question: fmt.Sprintf("zqfull%d", i), K: 1})
		if err != nil || len(q.Citations) == 0 || q.Citations[0].DocumentID != fmt.Sprintf("d%d", i) {
			t.Fatalf("acknowledged d%d lost after recovery and kill -9: %v %+v", i, err, q.Citations)
		}
	}
}

// statusPage returns the node's status page as HTML.
func statusPage(t *testing.T, url string) string {
	t.Helper()
	resp, err := testGet(url + "/")
	if err != nil {
		t.Fatalf("status page: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
