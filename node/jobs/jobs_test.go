package jobs

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/api"
)

// memStore keeps jobs in memory, as the real store does on disk.
type memStore struct {
	mu      sync.Mutex
	records map[string][]byte
	parts   map[string][][]byte
}

func newMem() *memStore { return &memStore{records: map[string][]byte{}, parts: map[string][][]byte{}} }

func (m *memStore) PutJob(_ context.Context, id string, record []byte, parts [][]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records[id], m.parts[id] = record, parts
	return nil
}

func (m *memStore) SetJobRecord(_ context.Context, id string, record []byte, drop bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records[id] = record
	if drop {
		delete(m.parts, id)
	}
	return nil
}

func (m *memStore) JobParts(_ context.Context, id string) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.parts[id], nil
}

func (m *memStore) Jobs(_ context.Context, fn func(string, []byte) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, r := range m.records {
		if err := fn(id, r); err != nil {
			return err
		}
	}
	return nil
}

func docs(n int) []api.Document {
	out := make([]api.Document, n)
	for i := range out {
		out[i] = api.Document{ID: strings.Repeat("x", i%5+1) + string(rune('a'+i%26)), Body: strings.Repeat("word ", 50)}
	}
	return out
}

func waitJob(t *testing.T, q *Queue, id string, want string) api.Job {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if j, _ := q.Job(id); j.Status == want {
			return j
		}
	}
	j, _ := q.Job(id)
	t.Fatalf("job %+v, want %s", j, want)
	return j
}

func TestJobIndexedInBatchesWithProgress(t *testing.T) {
	var mu sync.Mutex
	var batches []int
	ingest := func(_ context.Context, d []api.Document) (api.IngestResponse, error) {
		mu.Lock()
		batches = append(batches, len(d))
		mu.Unlock()
		return api.IngestResponse{}, nil
	}
	st := newMem()
	q := New(st, ingest, Options{Batch: 40})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go q.Run(ctx)
	j, err := q.Submit(ctx, docs(100))
	if err != nil {
		t.Fatal(err)
	}
	got := waitJob(t, q, j.ID, api.JobDone)
	if got.Done != 100 || got.Finished.IsZero() {
		t.Fatalf("finished job %+v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(batches) != 3 || batches[0] != 40 || batches[2] != 20 {
		t.Fatalf("batches %v, want 40 40 20", batches)
	}
	if len(st.parts[j.ID]) != 0 {
		t.Fatal("the documents of a finished job are still stored")
	}
}

// A full queue refuses with 429 and Retry-After instead of growing.
func TestFullQueueRefuses(t *testing.T) {
	q := New(newMem(), nil, Options{MaxPending: 150})
	if _, err := q.Submit(context.Background(), docs(100)); err != nil {
		t.Fatal(err)
	}
	_, err := q.Submit(context.Background(), docs(100))
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusTooManyRequests || ae.RetryAfter == 0 {
		t.Fatalf("got %v, want 429 with Retry-After", err)
	}
}

// A job acknowledged before a restart is taken up again from its progress.
func TestRecoverResumesOpenJobs(t *testing.T) {
	st := newMem()
	q1 := New(st, nil, Options{})
	j, err := q1.Submit(context.Background(), docs(30))
	if err != nil {
		t.Fatal(err)
	}
	var got int
	q2 := New(st, func(_ context.Context, d []api.Document) (api.IngestResponse, error) {
		got += len(d)
		return api.IngestResponse{}, nil
	}, Options{})
	if err := q2.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go q2.Run(ctx)
	waitJob(t, q2, j.ID, api.JobDone)
	if got != 30 {
		t.Fatalf("indexed %d documents after the restart, want 30", got)
	}
}

// A job that finds the disk full waits, saying why, and finishes once the
// disk takes writes again: failing it would drop documents a 202 promised.
func TestDiskFullJobWaitsAndResumes(t *testing.T) {
	var mu sync.Mutex
	full, indexed := true, 0
	st := newMem()
	q := New(st, func(_ context.Context, d []api.Document) (api.IngestResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		if full {
			return api.IngestResponse{}, api.Errorf(http.StatusInsufficientStorage, api.CodeStorageFull, "disk full: free space")
		}
		indexed += len(d)
		return api.IngestResponse{}, nil
	}, Options{DiskRetry: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go q.Run(ctx)
	j, err := q.Submit(ctx, docs(50))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if got, _ := q.Job(j.ID); got.Status != api.JobQueued || !strings.Contains(got.Error, "free space") {
		t.Fatalf("job on a full disk: %+v; want queued, saying why it waits", got)
	}
	st.mu.Lock()
	kept := len(st.parts[j.ID])
	st.mu.Unlock()
	if kept == 0 {
		t.Fatal("the documents of a waiting job were dropped")
	}
	mu.Lock()
	full = false
	mu.Unlock()
	got := waitJob(t, q, j.ID, api.JobDone)
	mu.Lock()
	defer mu.Unlock()
	if indexed != 50 || got.Error != "" {
		t.Fatalf("indexed %d of 50 once space came back; job %+v", indexed, got)
	}
}

func TestFailedJobSaysWhy(t *testing.T) {
	q := New(newMem(), func(context.Context, []api.Document) (api.IngestResponse, error) {
		return api.IngestResponse{}, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, "document x: body is empty: send its text")
	}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go q.Run(ctx)
	j, _ := q.Submit(ctx, docs(5))
	got := waitJob(t, q, j.ID, api.JobFailed)
	if !strings.Contains(got.Error, "send its text") {
		t.Fatalf("failed job %+v: want the reason", got)
	}
	if _, err := q.Job("job-nope"); err == nil {
		t.Fatal("unknown job id found")
	}
}
