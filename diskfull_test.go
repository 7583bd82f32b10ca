package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

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

// fill writes a file until the disk has about left bytes free.
func fill(t *testing.T, dir string, left int64) string {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
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

// TestFullDiskRefusesWritesKeepsAnswering fills the node's disk while it
// runs and after a kill -9: writes get 507 saying what to free, queries go
// on, the node starts read-only on the full disk, and writes resume once
// space is back.
func TestFullDiskRefusesWritesKeepsAnswering(t *testing.T) {
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
	filler = fill(t, disk, 256<<10)
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

	// A clean stop, then a start on a disk with no byte free: Badger
	// opened for writing would die of SIGBUS; the node opens read-only.
	filler = fill(t, disk, 0)
	_ = p3.cmd.Process.Signal(syscall.SIGTERM)
	_ = p3.cmd.Wait()
	p4 := startNode(t, data)
	if s := readyStorage(t, p4.url); !strings.HasPrefix(s, "read-only") {
		t.Errorf("readyz storage %q after a start with no space, want read-only", s)
	}
	q, err = testClient(p4.url).Query(ctx, api.QueryRequest{Question: "zqdisk103", K: 1})
	if err != nil || len(q.Citations) == 0 || q.Citations[0].DocumentID != "d103" {
		t.Fatalf("query on a read-only node: %v %+v", err, q.Citations)
	}
	if status, e := ingestStatus(t, p4.url, doc(104)); status != http.StatusInsufficientStorage || !strings.Contains(e.Message, "read-only") {
		t.Fatalf("ingest into a read-only node: %d %+v, want 507 saying read-only", status, e)
	}
	_ = os.Remove(filler)
}
