package main

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/api"
)

// TestAsyncIngestSurvivesKill9 queues documents as a job, kills the node
// with SIGKILL right after the 202, and finds the job finished and every
// document searchable after a restart.
func TestAsyncIngestSurvivesKill9(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	p := startNode(t, data)
	c := testClient(p.url)
	const n = 3000
	docs := make([]api.Document, n)
	for i := range docs {
		docs[i] = api.Document{ID: fmt.Sprintf("job-doc-%d", i), Body: fmt.Sprintf("Inspection record %d carries the marker zqjob%dx.", i, i)}
	}
	job, err := c.IngestAsync(ctx, docs)
	if err != nil {
		t.Fatal(err)
	}
	if job.ID == "" || job.Total != n || (job.Status != api.JobQueued && job.Status != api.JobRunning) {
		t.Fatalf("202 body %+v: want a queued job of %d documents", job, n)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()

	p2 := startNode(t, data)
	c2 := testClient(p2.url)
	deadline := time.Now().Add(60 * time.Second)
	for {
		j, err := c2.Job(ctx, job.ID)
		if err != nil {
			t.Fatalf("job after restart: %v", err)
		}
		if j.Status == api.JobDone {
			break
		}
		if j.Status == api.JobFailed || time.Now().After(deadline) {
			t.Fatalf("job %+v after restart: want done", j)
		}
		time.Sleep(100 * time.Millisecond)
	}
	st, err := c2.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Documents != n {
		t.Fatalf("%d documents after the job, want %d", st.Documents, n)
	}
	for _, i := range []int{0, 1234, n - 1} {
		q, err := c2.Query(ctx, api.QueryRequest{Question: fmt.Sprintf("zqjob%dx", i), K: 1})
		if err != nil || len(q.Citations) == 0 || q.Citations[0].DocumentID != fmt.Sprintf("job-doc-%d", i) {
			t.Fatalf("document %d after the job: %v %+v", i, err, q.Citations)
		}
	}
	// Retrying the same job's documents synchronously is idempotent.
	if _, err := c2.Ingest(ctx, docs[:100]); err != nil {
		t.Fatal(err)
	}
	if st, _ := c2.Status(ctx); st.Documents != n {
		t.Fatalf("%d documents after a retry with the same ids, want %d", st.Documents, n)
	}
}
