// Package jobs turns ingest into an event-driven queue: a batch of
// documents is stored durably as a job (fsynced, so it survives a kill) and
// acknowledged at once with the job's id; one worker then indexes the
// queued jobs in order, in small batches, recording progress after each.
// Under a surge the queue absorbs bursts up to a bound and then refuses
// (backpressure) instead of piling up work in memory; a node that restarts
// takes up the jobs it had acknowledged where it left them.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/auth"
)

// record is what the store keeps of a job: its public state and who sent
// it, so that the documents are indexed with the sender's rights after a
// restart too.
type record struct {
	api.Job
	Principal *auth.Principal `json:"principal,omitempty"`
}

// Store keeps jobs durably; shardstore.Store implements it.
type Store interface {
	PutJob(ctx context.Context, id string, record []byte, parts [][]byte) error
	SetJobRecord(ctx context.Context, id string, record []byte, dropParts bool) error
	JobParts(ctx context.Context, id string) ([][]byte, error)
	Jobs(ctx context.Context, fn func(id string, record []byte) error) error
}

// IngestFunc indexes documents synchronously (the node's Ingest).
type IngestFunc func(ctx context.Context, docs []api.Document) (api.IngestResponse, error)

// Options tune a Queue; zero values are defaults.
type Options struct {
	// MaxPending is the most documents queued and not yet indexed; beyond
	// it Submit refuses with 429. Default 100,000.
	MaxPending int
	// Batch is how many documents the worker indexes per call; default 200.
	Batch int
	// DiskRetry is how long a job that found the disk full waits before
	// it tries again; default 5 s.
	DiskRetry time.Duration
	Logger    *slog.Logger
	Now       func() time.Time
}

// Queue is a node's ingest job queue.
type Queue struct {
	store  Store
	ingest IngestFunc
	opt    Options
	wake   chan struct{}

	mu      sync.Mutex
	jobs    map[string]*record // every job this run knows, by id
	order   []string           // queued and running jobs, oldest first
	pending int                // documents in order not yet indexed
}

// partBudget keeps a part under the store's transaction limit.
const partBudget = 768 << 10

// New returns a queue; Run starts its worker.
func New(store Store, ingest IngestFunc, opt Options) *Queue {
	if opt.MaxPending <= 0 {
		opt.MaxPending = 100_000
	}
	if opt.DiskRetry <= 0 {
		opt.DiskRetry = 5 * time.Second
	}
	if opt.Batch <= 0 {
		opt.Batch = 200
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Queue{store: store, ingest: ingest, opt: opt, wake: make(chan struct{}, 1), jobs: map[string]*record{}}
}

// Recover loads the stored jobs: finished ones for GET /v1/jobs, unfinished
// ones back into the queue, oldest first. Call it before Run.
func (q *Queue) Recover(ctx context.Context) error {
	var open []*record
	err := q.store.Jobs(ctx, func(id string, b []byte) error {
		var j record
		if err := json.Unmarshal(b, &j); err != nil {
			q.opt.Logger.Warn("ingest job record unreadable; skipping it", "job", id, "err", err)
			return nil
		}
		q.jobs[id] = &j
		if j.Status == api.JobQueued || j.Status == api.JobRunning {
			open = append(open, &j)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("recover ingest jobs: %w", err)
	}
	sortByCreated(open)
	q.mu.Lock()
	for _, j := range open {
		q.order = append(q.order, j.ID)
		q.pending += j.Total - j.Done
	}
	q.mu.Unlock()
	if len(open) > 0 {
		q.opt.Logger.Info("ingest jobs resumed after a restart", "jobs", len(open))
		q.poke()
	}
	return nil
}

func sortByCreated(js []*record) {
	for i := 1; i < len(js); i++ {
		for k := i; k > 0 && js[k].Created.Before(js[k-1].Created); k-- {
			js[k], js[k-1] = js[k-1], js[k]
		}
	}
}

func (q *Queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Submit queues already-validated documents as a job and returns it once
// it is durable. A full queue refuses with 429 and Retry-After.
func (q *Queue) Submit(ctx context.Context, docs []api.Document) (api.Job, error) {
	q.mu.Lock()
	if q.pending+len(docs) > q.opt.MaxPending {
		pending := q.pending
		q.mu.Unlock()
		e := api.Errorf(http.StatusTooManyRequests, api.CodeOverloaded,
			"the ingest queue holds %d documents, its limit is %d: retry later, or send fewer documents at once", pending, q.opt.MaxPending)
		e.RetryAfter = 5 * time.Second
		return api.Job{}, e
	}
	q.pending += len(docs) // reserved before the slow write, released on failure
	q.mu.Unlock()
	j := record{Job: api.Job{ID: newID(), Status: api.JobQueued, Total: len(docs), Created: q.opt.Now().UTC()}}
	if p, ok := auth.FromContext(ctx); ok {
		j.Principal = &p
	}
	parts, err := split(docs)
	if err == nil {
		err = q.store.PutJob(ctx, j.ID, mustJSON(j), parts)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if err != nil {
		q.pending -= len(docs)
		return api.Job{}, err
	}
	q.jobs[j.ID] = &j
	q.order = append(q.order, j.ID)
	q.poke()
	return j.Job, nil
}

// split cuts documents into JSON parts under the part budget.
func split(docs []api.Document) ([][]byte, error) {
	var parts [][]byte
	var cur []api.Document
	size := 0
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		b, err := json.Marshal(cur)
		if err != nil {
			return err
		}
		parts = append(parts, b)
		cur, size = nil, 0
		return nil
	}
	for _, d := range docs {
		n := len(d.Body) + len(d.Title) + len(d.ID) + 256
		if size+n > partBudget {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		cur = append(cur, d)
		size += n
	}
	return parts, flush()
}

// Job returns a job by id.
func (q *Queue) Job(id string) (api.Job, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	j, ok := q.jobs[id]
	if !ok {
		return api.Job{}, api.Errorf(http.StatusNotFound, api.CodeNotFound, "no ingest job %q on this node (ids come from a 202 answer to POST /v1/documents with \"async\": true)", id)
	}
	return j.Job, nil
}

// Run indexes queued jobs, oldest first, until ctx ends.
func (q *Queue) Run(ctx context.Context) {
	for {
		q.mu.Lock()
		var id string
		if len(q.order) > 0 {
			id = q.order[0]
		}
		q.mu.Unlock()
		if id == "" {
			select {
			case <-ctx.Done():
				return
			case <-q.wake:
				continue
			}
		}
		q.runJob(ctx, id)
		if ctx.Err() != nil {
			return
		}
	}
}

// runJob indexes one job from where it stands. Documents already indexed
// before a crash are indexed again: ids replace, so that is harmless.
func (q *Queue) runJob(ctx context.Context, id string) {
	q.mu.Lock()
	j := *q.jobs[id]
	q.mu.Unlock()
	parts, err := q.store.JobParts(ctx, id)
	var docs []api.Document
	for _, p := range parts {
		var ds []api.Document
		if err == nil {
			err = json.Unmarshal(p, &ds)
		}
		docs = append(docs, ds...)
	}
	j.Status = api.JobRunning
	start := min(j.Done, len(docs))
	if j.Principal != nil {
		ctx = auth.WithPrincipal(ctx, *j.Principal)
	}
	for i := start; err == nil && i < len(docs); i += q.opt.Batch {
		end := min(i+q.opt.Batch, len(docs))
		if _, err = q.ingest(ctx, docs[i:end]); err != nil {
			break
		}
		j.Done = end
		q.update(ctx, j, false, end-i)
	}
	if ctx.Err() != nil {
		return // stopping: the job stays queued and resumes at start
	}
	if err != nil && api.AsError(err).Status == http.StatusInsufficientStorage {
		// The disk is full: the documents are safe in the queue, and
		// failing the job would drop them. Wait and try again from here.
		j.Status, j.Error = api.JobQueued, api.AsError(err).Message
		q.update(ctx, j, false, 0)
		q.opt.Logger.Warn("ingest job waits for disk space", "job", id, "done", j.Done, "total", j.Total, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(q.opt.DiskRetry):
		}
		return
	}
	j.Error = ""
	j.Finished = q.opt.Now().UTC()
	left := j.Total - j.Done // no longer pending either way
	if err != nil {
		j.Status, j.Error = api.JobFailed, api.AsError(err).Message
		q.opt.Logger.Warn("ingest job failed", "job", id, "done", j.Done, "total", j.Total, "err", err)
	} else {
		j.Status, j.Done = api.JobDone, j.Total
	}
	q.update(ctx, j, true, left)
	q.mu.Lock()
	q.order = q.order[1:]
	q.mu.Unlock()
}

// update records progress, in memory and in the store.
func (q *Queue) update(ctx context.Context, j record, final bool, indexed int) {
	q.mu.Lock()
	*q.jobs[j.ID] = j
	q.pending -= indexed
	q.mu.Unlock()
	if err := q.store.SetJobRecord(context.WithoutCancel(ctx), j.ID, mustJSON(j), final); err != nil && !errors.Is(err, context.Canceled) {
		q.opt.Logger.Warn("ingest job progress not stored", "job", j.ID, "err", err)
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // api.Job always marshals
	}
	return b
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "job-" + hex.EncodeToString(b[:])
}
