package ingestfiles

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/edgerag/edgerag/node/api"
)

// batchBytes and batchDocs bound one request: big enough to amortise the
// round trip and the fsync, far below the server's limits.
const (
	batchBytes = 4 << 20
	batchDocs  = 1000
)

// Options say where the documents go and how they are sent.
type Options struct {
	Shard  string // "": the node's default shard
	Trust  string // "": what Origin gives
	Origin string // "": ingest
	Format string // of the files named: "" takes it from the name (Formats)
	// Async queues the documents as ingest jobs, answered once stored
	// durably (Result.Jobs), instead of waiting for them to be indexed.
	Async bool
	Quiet bool // no progress bar
}

// AddFlags registers o's flags on fs, as 'edgerag ingest' takes them.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Shard, "shard", "", "shard to put the documents in (default: the node's default shard)")
	fs.StringVar(&o.Trust, "trust", "", "trust level of the documents: central, local or untrusted (default: what --origin gives; raising it needs an admin token)")
	fs.StringVar(&o.Origin, "origin", "", "how the text came: ingest (default), crawler or upload (both untrusted)")
	fs.BoolVar(&o.Quiet, "quiet", false, "no progress bar")
	fs.BoolVar(&o.Async, "async", false, "queue the documents as ingest jobs (answered once stored durably), then show the node's indexing progress")
	fs.StringVar(&o.Format, "format", "", "format of the files named on the command line: text, markdown, html or jsonl (default: from the file name)")
}

// Result is what a Send stored, or queued.
type Result struct {
	Docs, Chunks int
	Jobs         []string // with Async: the jobs queued
}

// sender sends batches with two requests in flight: the node analyses one
// batch while it writes the other, which keeps both cores of a small device
// busy.
type sender struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	client *api.Client
	o      Options
	bar    *Progress
	slots  chan struct{}
	wg     sync.WaitGroup

	batch []api.Document // filled by emit, on the caller's goroutine
	bytes int64

	mu  sync.Mutex // guards res
	res Result
}

// Send reads every path (ReadPath) and sends the documents to the node in
// batches, drawing a progress bar on progress.
func Send(ctx context.Context, client *api.Client, paths []string, o Options, progress io.Writer) (Result, error) {
	total, err := sizeOf(paths)
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s := &sender{ctx: ctx, cancel: cancel, client: client, o: o, bar: NewProgress(progress, total, o.Quiet), slots: make(chan struct{}, 2)}
	for _, root := range paths {
		if err := ReadPath(ctx, root, o.Format, s.emit); err != nil {
			s.wg.Wait()
			if cause := context.Cause(ctx); cause != nil {
				return Result{}, cause
			}
			return Result{}, err
		}
	}
	err = s.flush()
	s.wg.Wait()
	if err == nil {
		err = context.Cause(ctx)
	}
	if err != nil {
		return Result{}, err
	}
	s.bar.Done()
	return s.res, nil
}

func (s *sender) emit(d api.Document, size int64) error {
	if s.o.Shard != "" {
		d.Shard = s.o.Shard
	}
	d.Trust, d.Origin = s.o.Trust, s.o.Origin
	s.batch = append(s.batch, d)
	s.bytes += size
	if len(s.batch) >= batchDocs || s.bytes >= batchBytes {
		return s.flush()
	}
	return nil
}

// flush sends the batch once a slot is free, without waiting for the answer.
func (s *sender) flush() error {
	if len(s.batch) == 0 {
		return context.Cause(s.ctx)
	}
	select {
	case s.slots <- struct{}{}:
	case <-s.ctx.Done():
		return context.Cause(s.ctx)
	}
	b, size := s.batch, s.bytes
	s.batch, s.bytes = nil, 0
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.slots }()
		if err := s.send(b, size); err != nil {
			s.cancel(err)
		}
	}()
	return nil
}

func (s *sender) send(b []api.Document, size int64) error {
	if s.o.Async {
		job, err := s.client.IngestAsync(s.ctx, b)
		if err != nil {
			return fmt.Errorf("queue batch starting at %q: %w", b[0].ID, err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.res.Jobs = append(s.res.Jobs, job.ID)
		s.res.Docs += len(b)
		s.bar.Add(size, len(b), 0)
		return nil
	}
	resp, err := s.client.Ingest(s.ctx, b)
	if err != nil {
		return fmt.Errorf("ingest batch starting at %q: %w", b[0].ID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range resp.Documents {
		s.res.Chunks += d.Chunks
	}
	s.res.Docs += len(b)
	s.bar.Add(size, len(b), s.res.Chunks)
	return nil
}

// WaitJobs shows the node's indexing of queued jobs until all are done.
func WaitJobs(ctx context.Context, client *api.Client, jobs []string, total int, w io.Writer, quiet bool) error {
	bar := NewProgress(w, int64(total), quiet)
	for {
		indexed, open := 0, 0
		for _, id := range jobs {
			j, err := client.Job(ctx, id)
			if err != nil {
				return fmt.Errorf("ingest job %s: %w", id, err)
			}
			if j.Status == api.JobFailed {
				return fmt.Errorf("ingest job %s failed after %d of %d documents: %s", id, j.Done, j.Total, j.Error)
			}
			if j.Status != api.JobDone {
				open++
			}
			indexed += j.Done
		}
		bar.sent, bar.docs = int64(indexed), indexed
		if open == 0 {
			bar.Done()
			return nil
		}
		bar.Add(0, 0, 0)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
