package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/lease/etcdtest"
	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/objstore/s3test"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

// centralStatus reads a central's fleet-sync status.
func centralStatus(t *testing.T, url string) fleet.CentralStatus {
	t.Helper()
	resp, err := testGet(url + "/v1/sync")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st fleet.CentralStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestRolloutAdvancesOnlyUnderLease: A holds the publisher lease and
// starts a staged rollout, then is frozen (SIGSTOP: it keeps the lease,
// which outlives the test's wait). The canary takes the version from B
// and reports it healthy to B; B stores the report but, without the
// lease, never promotes the rollout, and the other edge stays on the old
// version. Once A runs again it promotes the rollout from the report B
// stored, and the other edge takes the version.
func TestRolloutAdvancesOnlyUnderLease(t *testing.T) {
	f := startRolloutFleet(t, "60s")
	central, ingest, publish := f.central, f.ingest, f.publish
	a := central()
	ingest(a, "blue")
	publish(a)
	b := central()
	edges := map[string]*proc{}
	for _, name := range []string{"edge-1", "edge-2"} {
		edges[name] = f.edge(name, b)
	}
	var v1 uint64
	for _, e := range edges {
		v1 = waitApplied(t, e.url, 1).Applied
	}
	ingest(a, "orange")
	publish(a)
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			a.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	st := centralStatus(t, b.url)
	if len(st.Rollouts) != 1 || st.Rollouts[0].Stage != "canary" || len(st.Rollouts[0].Canaries) != 1 {
		t.Fatalf("B's view of the rollout A started: %+v; want one canary", st.Rollouts)
	}
	canary := st.Rollouts[0].Canaries[0]
	other := "edge-1"
	if canary == other {
		other = "edge-2"
	}
	waitApplied(t, edges[canary].url, v1+1)
	for deadline := time.Now().Add(10 * time.Second); !reported(t, b.url, canary, v1+1); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("B does not show %s's report of version %d", canary, v1+1)
		}
	}
	// Three of the holder's advance periods: B, which holds no lease,
	// must not have promoted on the report it stored.
	time.Sleep(3 * time.Second)
	if st := centralStatus(t, b.url); len(st.Rollouts) != 1 || st.Rollouts[0].Stage != "canary" {
		t.Fatalf("with the holder frozen, the rollout moved to %+v on a replica without the lease", st.Rollouts)
	}
	if n := count(t, edges[other].url, "orange"); n != 0 {
		t.Fatalf("%s, not a canary, took version %d before any promotion", other, v1+1)
	}
	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false
	start := time.Now()
	for deadline := start.Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if st := centralStatus(t, b.url); len(st.Rollouts) == 1 && st.Rollouts[0].Stage == "promoted" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A, holding the lease again, did not promote the rollout: %+v", centralStatus(t, b.url).Rollouts)
		}
	}
	waitApplied(t, edges[other].url, v1+1)
	t.Logf("the holder promoted the rollout %v after it ran again, from the canary's report stored on the other replica", time.Since(start))
}

// TestRevocationSharedAcrossReplicas: a certificate revoked through one
// central replica (A, which holds the fleet CA) is refused by another (B,
// which never saw the revoke and holds no CA key): the signed list goes
// through etcd, and B checks it against the fleet CA before applying it.
// B also hands it to edges on fleet sync.
func TestRevocationSharedAcrossReplicas(t *testing.T) {
	s := s3test.Start(t, "fleet")
	etcd := etcdtest.Start(t)
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ca, tls, keys := t.TempDir(), t.TempDir(), t.TempDir()
	mustCLI(t, "ca", "init", "--dir", ca, "--fleet", "test")
	mustCLI(t, "cert", "issue", "--ca", ca, "--out", tls, "--name", "central", "--role", "central")
	mustCLI(t, "cert", "issue", "--ca", ca, "--out", tls, "--name", "edge-1")
	mustCLI(t, "cert", "issue", "--ca", ca, "--out", tls, "--name", "edge-2")
	if out, err := exec.Command("cp", filepath.Join(ca, "ca.crt"), tls).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	mustCLI(t, "sync", "keygen", "--out", keys)
	central := func(extra ...string) *proc {
		return startProc(t, append([]string{"central", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0",
			"--tls-dir", tls, "--name", "central", "--sync-key", filepath.Join(keys, "sync.key"), "--no-sync",
			"--sync-store", "s3://fleet/prod", "--sync-lease", etcd.URL("prod"), "--sync-lease-ttl", "3s"}, extra...))
	}
	a := central("--ca", ca)
	b := central()
	id1 := enrolledIdentity(t, tls, "edge-1")
	if err := ping(id1, b.quic, "central"); err != nil {
		t.Fatalf("edge-1 to B before the revocation: %v", err)
	}
	revoked := time.Now()
	mustCLI(t, "cert", "revoke", "edge-1", "--node", a.url, "--token", tokenOf(a.url))
	if err := ping(id1, a.quic, "central"); err == nil {
		t.Fatal("A, which revoked edge-1, still serves it")
	}
	for ping(id1, b.quic, "central") == nil {
		if time.Since(revoked) > 10*time.Second {
			t.Fatalf("B still serves edge-1 %v after A revoked it", time.Since(revoked))
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(revoked)
	if err := ping(enrolledIdentity(t, tls, "edge-2"), b.quic, "central"); err != nil {
		t.Errorf("B refuses edge-2, which was not revoked: %v", err)
	}
	// B serves the list to its edges: edge-2, polling only B, refuses
	// edge-1 too.
	edge2 := startProc(t, []string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0", "--tls-dir", tls, "--name", "edge-2",
		"--central", b.quic, "--sync-pub", filepath.Join(keys, "sync.pub"), "--sync-poll", "200ms"})
	for ping(id1, edge2.quic, "edge-2") == nil {
		if time.Since(revoked) > 20*time.Second {
			t.Fatal("edge-2, syncing from B, still serves edge-1")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("revoked through A → refused by B after %v; by an edge syncing from B after %v", took, time.Since(revoked))
}

// writeOllamaDir lays out an Ollama models directory with one small model,
// name:latest, as Ollama writes it (manifest and content-addressed blobs).
func writeOllamaDir(t *testing.T, dir, name string) {
	t.Helper()
	type layer struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Size      int64  `json:"size"`
	}
	put := func(media string, data []byte) layer {
		d := sha256.Sum256(data)
		if err := os.MkdirAll(filepath.Join(dir, "blobs"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "blobs", fmt.Sprintf("sha256-%x", d)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		return layer{media, fmt.Sprintf("sha256:%x", d), int64(len(data))}
	}
	om := map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
		"config": put("application/vnd.docker.container.image.v1+json", []byte(`{"model_format":"gguf"}`)),
		"layers": []layer{put("application/vnd.ollama.image.model", []byte("GGUF weights of "+name))},
	}
	b, _ := json.Marshal(om)
	mdir := filepath.Join(dir, "manifests", "registry.ollama.ai", "library", name)
	if err := os.MkdirAll(mdir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mdir, "latest"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestModelManifestSharedAcrossReplicas: the model manifest is the
// replicas' shared one. A, holding the lease, publishes --publish-models;
// B, which was given no models to publish, serves the same signed manifest
// to an edge; a model publish on B is refused naming the holder.
func TestModelManifestSharedAcrossReplicas(t *testing.T) {
	s := s3test.Start(t, "fleet")
	etcd := etcdtest.Start(t)
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	tls, keys, models := fleetDir(t, "central", "edge-1"), t.TempDir(), t.TempDir()
	mustCLI(t, "sync", "keygen", "--out", keys)
	writeOllamaDir(t, models, "tiny")
	writeOllamaDir(t, models, "small")
	central := func(extra ...string) *proc {
		return startProc(t, append([]string{"central", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0",
			"--tls-dir", tls, "--name", "central", "--sync-key", filepath.Join(keys, "sync.key"), "--no-sync", "--ollama-models", models,
			"--sync-store", "s3://fleet/prod", "--sync-lease", etcd.URL("prod"), "--sync-lease-ttl", "3s"}, extra...))
	}
	a := central("--publish-models", "tiny")
	b := central()
	id := enrolledIdentity(t, tls, "edge-1")
	fetch := func(p *proc) (manifest.Models, error) {
		c := transport.NewClient(transport.Config{Identity: id})
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		signed, err := c.Call(ctx, p.quic, "central", wire.TypeModelManifest, nil)
		if err != nil {
			return manifest.Models{}, err
		}
		e, err := manifest.UnmarshalEnvelope(signed)
		if err != nil {
			return manifest.Models{}, err
		}
		return manifest.UnmarshalModels(e.Body)
	}
	var fromB manifest.Models
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var err error
		if fromB, err = fetch(b); err == nil && len(fromB.Models) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B serves no model manifest %v after A published one: %v", fromB, err)
		}
	}
	fromA, err := fetch(a)
	if err != nil || fromA.Version != fromB.Version || fromB.Models[0].Name != "tiny:latest" {
		t.Fatalf("A serves %+v (%v), B %+v: want the same manifest listing tiny", fromA, err, fromB)
	}
	out, err := exec.Command(binary, "publish", "--models", "small", "--node", b.url, "--token", tokenOf(b.url)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "holds it") {
		t.Fatalf("a model publish on B, which does not hold the lease: %v\n%s", err, out)
	}
	mustCLI(t, "publish", "--models", "small", "--node", a.url, "--token", tokenOf(a.url))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if m, err := fetch(b); err == nil && m.Version == fromB.Version+1 && m.Models[0].Name == "small:latest" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("B does not serve the model manifest A published next")
		}
	}
}

// rolloutFleet is what the staged-rollout process tests share: a real
// bucket and etcd, a fleet directory with central and two edges' identities,
// a sync key pair, and replicas started on them.
type rolloutFleet struct {
	t         *testing.T
	tls, keys string
	etcd      *etcdtest.Server
	leaseTTL  string
}

func startRolloutFleet(t *testing.T, leaseTTL string) *rolloutFleet {
	t.Helper()
	s := s3test.Start(t, "fleet")
	f := &rolloutFleet{t: t, etcd: etcdtest.Start(t), leaseTTL: leaseTTL}
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	f.tls, f.keys = fleetDir(t, "central", "edge-1", "edge-2"), t.TempDir()
	if out, err := exec.Command(binary, "sync", "keygen", "--out", f.keys).CombinedOutput(); err != nil {
		t.Fatalf("sync keygen: %v\n%s", err, out)
	}
	return f
}

// central starts one more replica on the shared bucket and lease.
func (f *rolloutFleet) central() *proc {
	return startProc(f.t, []string{"central", "--data", f.t.TempDir(), "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0",
		"--tls-dir", f.tls, "--name", "central", "--sync-key", filepath.Join(f.keys, "sync.key"), "--no-sync", "--sync-canary", "0.5",
		"--sync-store", "s3://fleet/prod", "--sync-lease", f.etcd.URL("prod"), "--sync-lease-ttl", f.leaseTTL})
}

// ingest writes ten documents into the "manuals" shard on p, each naming
// word, so a test can tell versions apart by searching for it.
func (f *rolloutFleet) ingest(p *proc, word string) {
	f.t.Helper()
	var docs []api.Document
	for i := range 10 {
		docs = append(docs, api.Document{ID: fmt.Sprintf("doc-%03d", i), Shard: "manuals", Title: fmt.Sprintf("Machine %d", i),
			Body: fmt.Sprintf("To reset unit%d press the %s button.", i, word)})
	}
	if _, err := testClient(p.url).Ingest(context.Background(), docs); err != nil {
		f.t.Fatal(err)
	}
}

// publish publishes "manuals" on p, retrying while p is not yet the lease
// holder (for up to 10 s).
func (f *rolloutFleet) publish(p *proc) {
	f.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, err := exec.Command(binary, "publish", "--shard", "manuals", "--node", p.url, "--token", tokenOf(p.url)).CombinedOutput()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("publish: %v\n%s", err, out)
		}
	}
}

// edge starts the named edge syncing from replica c every 200 ms; it never
// escalates, so what it answers is what it applied.
func (f *rolloutFleet) edge(name string, c *proc) *proc {
	return startProc(f.t, []string{"serve", "--data", f.t.TempDir(), "--http", "127.0.0.1:0", "--tls-dir", f.tls, "--name", name,
		"--central", c.quic, "--sync-pub", filepath.Join(f.keys, "sync.pub"), "--sync-poll", "200ms", "--escalate-below", "0"})
}
