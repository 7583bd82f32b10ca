package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/evalset"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/fleet/fleetnode"
	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/transport"
)

// procCPU returns the user+system CPU time of a process so far.
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// BenchmarkTenEdgesSync: central (a child process) serves one new version
// of a 10,000-chunk shard to ten edges that start syncing at the same
// moment over loopback QUIC. Reports the time until all ten have applied
// it, central's CPU time while serving, and central's peak Go heap.
func BenchmarkTenEdgesSync(b *testing.B) {
	const edges = 10
	ca, tls, keys := b.TempDir(), b.TempDir(), b.TempDir()
	cli := func(args ...string) {
		if out, err := execCommand(binary, args...).CombinedOutput(); err != nil {
			b.Fatalf("edgerag %v: %v\n%s", args, err, out)
		}
	}
	cli("ca", "init", "--dir", ca, "--fleet", "bench")
	cli("cert", "issue", "--ca", ca, "--out", tls, "--name", "central", "--role", "central")
	for i := range edges {
		cli("cert", "issue", "--ca", ca, "--out", tls, "--name", fmt.Sprintf("edge-%d", i))
	}
	cli("sync", "keygen", "--out", keys)
	caCrt, _ := os.ReadFile(filepath.Join(ca, "ca.crt"))
	os.WriteFile(filepath.Join(tls, "ca.crt"), caCrt, 0o644)

	ready := filepath.Join(b.TempDir(), "ready")
	p := &proc{logs: new(syncBuffer)}
	centralData := b.TempDir()
	p.cmd = execCommand(binary, "central", "--data", centralData, "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0", "--tls-dir", tls,
		"--name", "central", "--sync-key", filepath.Join(keys, "sync.key"), "--no-sync", "--log-level", "warn", "--ready-file", ready)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	for deadline := time.Now().Add(30 * time.Second); ; {
		if readReady(ready, p) {
			registerToken(b, p.url, []string{"--data", centralData}, nil)
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("central did not start:\n%s", p.logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx := context.Background()
	cc := testClient(p.url)
	corpus := evalset.Synthetic{Docs: 2500, SectionsPerDoc: 4, WordsPerSection: 90, Vocabulary: 20000, Seed: 2}
	var batch []api.Document
	err := corpus.Generate(func(d evalset.Doc) error {
		batch = append(batch, api.Document{ID: d.ID, Shard: "manuals", Title: d.Title, Format: "markdown", Body: d.Text})
		if len(batch) == 500 {
			_, err := cc.Ingest(ctx, batch)
			batch = batch[:0]
			return err
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	cli("publish", "--shard", "manuals", "--node", p.url, "--token", tokenOf(p.url))
	pubPEM, _ := os.ReadFile(filepath.Join(keys, "sync.pub"))
	pub, err := manifest.ParsePublicKey(pubPEM)
	if err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		syncers := make([]*fleet.Syncer, edges)
		var closers []func()
		for i := range edges {
			name := fmt.Sprintf("edge-%d", i)
			id, err := pki.LoadIdentity(filepath.Join(tls, "ca.crt"), filepath.Join(tls, name+".crt"), filepath.Join(tls, name+".key"))
			if err != nil {
				b.Fatal(err)
			}
			cl := transport.NewClient(transport.Config{Identity: id})
			dir := b.TempDir()
			n, err := node.New(node.Config{Name: name, DataDir: dir, NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			if err := n.Open(ctx); err != nil {
				b.Fatal(err)
			}
			closers = append(closers, func() { cl.Close(); n.Close() })
			syncers[i], err = fleet.NewSyncer(fleet.SyncerConfig{Client: cl, Central: p.quic, CentralName: "central",
				Trusted: []ed25519.PublicKey{pub}, Target: fleetnode.Target(n), StageDir: filepath.Join(dir, "sync-staging")})
			if err != nil {
				b.Fatal(err)
			}
		}
		var peakHeap, baseHeap uint64
		if st, err := cc.Status(ctx); err == nil {
			baseHeap = st.Memory.HeapBytes
		}
		stop := make(chan struct{})
		var pollWG sync.WaitGroup
		pollWG.Add(1)
		go func() {
			defer pollWG.Done()
			for {
				if st, err := cc.Status(ctx); err == nil && st.Memory.HeapBytes > peakHeap {
					peakHeap = st.Memory.HeapBytes
				}
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
		cpu0 := procCPU(b, p.cmd.Process.Pid)
		start := time.Now()
		b.StartTimer()
		var wg sync.WaitGroup
		errs := make([]error, edges)
		for i, s := range syncers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.SyncOnce(ctx)
			}()
		}
		wg.Wait()
		b.StopTimer()
		took := time.Since(start)
		cpu := procCPU(b, p.cmd.Process.Pid) - cpu0
		close(stop)
		pollWG.Wait()
		for i, err := range errs {
			if err != nil {
				b.Fatalf("edge-%d: %v", i, err)
			}
		}
		b.ReportMetric(took.Seconds(), "s_to_all_applied")
		b.ReportMetric(cpu.Seconds(), "central_cpu_s")
		b.ReportMetric(float64(peakHeap)/(1<<20), "central_peak_heap_MiB")
		b.ReportMetric(float64(baseHeap)/(1<<20), "central_heap_before_MiB")
		for _, c := range closers {
			c()
		}
		b.StartTimer()
	}
}
