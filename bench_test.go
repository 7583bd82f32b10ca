package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/evalset"
)

// corpus100k matches node's benchmark corpus: 25,000 documents of four
// ~90-word sections, 100,000 chunks.
var corpus100k = evalset.Synthetic{Docs: 25000, SectionsPerDoc: 4, WordsPerSection: 90, Vocabulary: 50000, Seed: 1}

// buildStore100k writes the 100k-chunk corpus into a data directory with an
// in-process node and closes it, ready for a child process to open.
func buildStore100k(b *testing.B) (string, []string) {
	b.Helper()
	dir := b.TempDir()
	n, err := node.New(node.Config{DataDir: dir, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := n.Open(context.Background()); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	var batch []api.Document
	var questions []string
	err = corpus100k.Generate(func(d evalset.Doc) error {
		batch = append(batch, api.Document{ID: d.ID, Title: d.Title, Format: "markdown", Body: d.Text})
		if len(questions) < 500 && rng.IntN(50) == 0 {
			questions = append(questions, corpus100k.Query(rng, d.Text))
		}
		if len(batch) == 1000 {
			_, err := n.Ingest(context.Background(), batch)
			batch = batch[:0]
			return err
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		_, err = n.Ingest(context.Background(), batch)
	}
	if err != nil {
		b.Fatal(err)
	}
	if err := n.Close(); err != nil {
		b.Fatal(err)
	}
	return dir, questions
}

// rssMB reads a process's resident memory from /proc: anonymous (heap,
// stacks, Badger's memtable arenas) and file-backed (Badger's memory-mapped
// tables, which the kernel can drop and re-read at will).
func rssMB(pid int) (anon, file float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.Lines(string(b)) {
		for key, dst := range map[string]*float64{"RssAnon:": &anon, "RssFile:": &file} {
			if rest, ok := strings.CutPrefix(line, key); ok {
				kb, err := strconv.Atoi(strings.Fields(rest)[0])
				if err != nil {
					return 0, 0, err
				}
				*dst = float64(kb) / 1024
			}
		}
	}
	return anon, file, nil
}

// BenchmarkRestart100k starts 'edgerag serve' on a store of 100k chunks and
// reports the time from exec to ready (index rebuilt from Badger, HTTP
// listening) and the resident memory after 500 queries.
func BenchmarkRestart100k(b *testing.B) {
	dir, questions := buildStore100k(b)
	if keep := os.Getenv("EDGERAG_KEEP_STORE"); keep != "" {
		_ = os.CopyFS(keep, os.DirFS(dir))
	}
	var ready time.Duration
	var anon, file []float64
	for range b.N {
		t := &testing.T{}
		start := time.Now()
		p := startProcB(b, t, dir)
		ready += time.Since(start)
		c := testClient(p.url)
		for _, q := range questions {
			if _, err := c.Query(context.Background(), api.QueryRequest{Question: q}); err != nil {
				b.Fatal(err)
			}
		}
		time.Sleep(time.Second) // let the GC and scavenger settle, as on an idle device
		a, f, err := rssMB(p.cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		anon, file = append(anon, a), append(file, f)
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
	b.ReportMetric(float64(ready.Milliseconds())/float64(b.N), "ready-ms")
	slices.Sort(anon)
	slices.Sort(file)
	b.ReportMetric(anon[len(anon)/2], "rss-anon-MB")
	b.ReportMetric(file[len(file)/2], "rss-file-MB")
}

// startProcB is startNode for benchmarks.
func startProcB(b *testing.B, _ *testing.T, data string) *proc {
	b.Helper()
	ready := b.TempDir() + "/ready"
	p := &proc{logs: new(syncBuffer)}
	p.cmd = execCommand(binary, "serve", "--data", data, "--http", "127.0.0.1:0", "--name", "bench", "--log-level", "warn", "--memory-limit", "80MiB", "--ready-file", ready)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if s, err := os.ReadFile(ready); err == nil && strings.HasSuffix(string(s), "\n") {
			p.url = strings.Fields(string(s))[0]
			registerToken(b, p.url, []string{"--data", data}, nil)
			return p
		}
		time.Sleep(2 * time.Millisecond)
	}
	b.Fatalf("node did not start:\n%s", p.logs)
	return nil
}
