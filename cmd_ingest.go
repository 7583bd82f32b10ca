package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/edgerag/edgerag/node/api"
)

// ingestBatchBytes and ingestBatchDocs bound one request: big enough to
// amortise the round trip and the fsync, far below the server's limits.
const (
	ingestBatchBytes = 4 << 20
	ingestBatchDocs  = 1000
)

func runIngest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("ingest", "[flags] PATH...", stderr)
	nf := newAPIFlags(fs, "http://127.0.0.1:8080", "the node")
	shardName := fs.String("shard", "", "shard to put the documents in (default: the node's default shard)")
	trustLevel := fs.String("trust", "", "trust level of the documents: central, local or untrusted (default: what --origin gives; raising it needs an admin token)")
	origin := fs.String("origin", "", "how the text came: ingest (default), crawler or upload (both untrusted)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	async := fs.Bool("async", false, "queue the documents as ingest jobs (answered once stored durably), then show the node's indexing progress")
	format := fs.String("format", "", "format of the files named on the command line: text, markdown, html or jsonl (default: from the file name)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch *format {
	case "", "text", "markdown", "html", "jsonl":
	default:
		return usageError{fmt.Sprintf("--format %q: use text, markdown, html or jsonl", *format)}
	}
	if fs.NArg() == 0 {
		return usageError{"ingest needs at least one file or directory (.txt, .md, .html, or .jsonl with {\"id\",\"title\",\"text\"} lines)"}
	}
	client := nf.client()
	total, err := sizeOf(fs.Args())
	if err != nil {
		return err
	}
	bar := newProgress(stderr, total, *quiet)
	// Two requests in flight: the node analyses one batch while it writes
	// the other, which keeps both cores of a small device busy.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	slots := make(chan struct{}, 2)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var docs, chunks int
	var jobs []string // with --async
	var batch []api.Document
	var batchBytes int64
	flush := func() error {
		if len(batch) == 0 {
			return context.Cause(ctx)
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		b, size := batch, batchBytes
		batch, batchBytes = nil, 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			if *async {
				job, err := client.IngestAsync(ctx, b)
				if err != nil {
					cancel(fmt.Errorf("queue batch starting at %q: %w", b[0].ID, err))
					return
				}
				mu.Lock()
				defer mu.Unlock()
				jobs = append(jobs, job.ID)
				docs += len(b)
				bar.add(size, len(b), 0)
				return
			}
			resp, err := client.Ingest(ctx, b)
			if err != nil {
				cancel(fmt.Errorf("ingest batch starting at %q: %w", b[0].ID, err))
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, d := range resp.Documents {
				chunks += d.Chunks
			}
			docs += len(b)
			bar.add(size, len(b), chunks)
		}()
		return nil
	}
	emit := func(d api.Document, size int64) error {
		if *shardName != "" {
			d.Shard = *shardName
		}
		d.Trust, d.Origin = *trustLevel, *origin
		batch = append(batch, d)
		batchBytes += size
		if len(batch) >= ingestBatchDocs || batchBytes >= ingestBatchBytes {
			return flush()
		}
		return nil
	}
	for _, root := range fs.Args() {
		if err := readPath(ctx, root, *format, emit); err != nil {
			wg.Wait()
			if cause := context.Cause(ctx); cause != nil {
				return cause
			}
			return err
		}
	}
	err = flush()
	wg.Wait()
	if err == nil {
		err = context.Cause(ctx)
	}
	if err != nil {
		return err
	}
	bar.done()
	if *async {
		fmt.Fprintf(stdout, "queued %d documents in %d jobs on %s\n", docs, len(jobs), nf.url)
		return waitJobs(ctx, client, jobs, docs, stderr, *quiet)
	}
	fmt.Fprintf(stdout, "ingested %d documents (%d chunks) into %s\n", docs, chunks, nf.url)
	return nil
}

// waitJobs shows the node's indexing of queued jobs until all are done.
func waitJobs(ctx context.Context, client *api.Client, jobs []string, total int, w io.Writer, quiet bool) error {
	bar := newProgress(w, int64(total), quiet)
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
			bar.done()
			return nil
		}
		bar.add(0, 0, 0)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// readPath walks a file or directory and emits a document per file, or per
// line of a JSONL corpus. A file named on the command line has the format
// given (--format), else the one its name says; one whose name says
// nothing is refused rather than taken for text, as a key or a binary would
// be. In a directory such files are skipped.
func readPath(ctx context.Context, root, format string, emit func(api.Document, int64) error) error {
	info, err := os.Stat(root)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		if format == "" {
			if format = formatOf(root); format == "" {
				return fmt.Errorf("%s: cannot tell the format from the name; name it .txt, .md, .html or .jsonl, or pass --format text|markdown|html|jsonl", root)
			}
		}
		return readFile(ctx, root, filepath.Base(root), format, emit)
	}
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && path != root {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || formatOf(path) == "" {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		return readFile(ctx, path, filepath.ToSlash(rel), formatOf(path), emit)
	})
}

// formatOf maps a file name to a document format, or "" when the name does
// not say (no extension, or another one).
func formatOf(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".md", ".markdown":
		return "markdown"
	case ".html", ".htm":
		return "html"
	case ".txt", ".text":
		return "text"
	case ".jsonl":
		return "jsonl"
	}
	return ""
}

func readFile(ctx context.Context, path, id, format string, emit func(api.Document, int64) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if format == "jsonl" {
		return readJSONL(ctx, path, emit)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !utf8.Valid(b) {
		return fmt.Errorf("%s: not UTF-8 text; convert it first (e.g. iconv -t UTF-8)", path)
	}
	abs, _ := filepath.Abs(path)
	return emit(api.Document{ID: id, Title: titleOf(string(b), format, path), Source: "file://" + filepath.ToSlash(abs), Format: format, Body: string(b)}, int64(len(b)))
}

// titleOf picks a Markdown file's first heading, else the file name.
func titleOf(body, format, path string) string {
	if format == "markdown" {
		for line := range strings.Lines(body) {
			if t, ok := strings.CutPrefix(strings.TrimSpace(line), "# "); ok {
				return strings.TrimSpace(t)
			}
		}
	}
	if format == "html" {
		return "" // the node takes the <title>
	}
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}

// corpusLine is one line of a corpus in the shared/eval layout.
type corpusLine struct {
	ID       string            `json:"id"`
	Title    string            `json:"title"`
	Text     string            `json:"text"`
	Source   string            `json:"source"`
	Format   string            `json:"format"`
	Metadata map[string]string `json:"metadata"`
}

func readJSONL(ctx context.Context, path string, emit func(api.Document, int64) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), api.MaxDocumentBody+64<<10)
	for line := 1; sc.Scan(); line++ {
		if line%1000 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var c corpusLine
		if err := json.Unmarshal(b, &c); err != nil {
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if c.ID == "" {
			return fmt.Errorf("%s:%d: no \"id\"", path, line)
		}
		if strings.TrimSpace(c.Text) == "" {
			c.Text = c.Title // some corpora have documents with a title only
		}
		if strings.TrimSpace(c.Text) == "" {
			continue
		}
		if err := emit(api.Document{ID: c.ID, Title: c.Title, Source: c.Source, Format: c.Format, Body: c.Text, Metadata: c.Metadata}, int64(len(b)+1)); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%s: a line is longer than %d bytes: split that document", path, api.MaxDocumentBody)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func sizeOf(paths []string) (int64, error) {
	var total int64
	for _, p := range paths {
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (path == p || formatOf(path) != "") {
				if info, err := d.Info(); err == nil {
					total += info.Size()
				}
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", p, err)
		}
	}
	return total, nil
}

// progress draws a one-line progress bar with rate and ETA on a terminal,
// and a line every few seconds otherwise.
type progress struct {
	w           io.Writer
	total, sent int64
	docs        int
	chunks      int
	start, last time.Time
	quiet, tty  bool
}

func newProgress(w io.Writer, total int64, quiet bool) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	now := time.Now()
	// Off a terminal (a log, a pipe) a line every few seconds tells a long
	// ingest is alive; a short one prints none, as the summary follows.
	return &progress{w: w, total: total, start: now, last: now, quiet: quiet, tty: tty}
}

func (p *progress) add(bytes int64, docs, chunks int) {
	p.sent += bytes
	p.docs += docs
	p.chunks = chunks
	now := time.Now()
	if p.quiet || (!p.tty && now.Sub(p.last) < 5*time.Second) {
		return
	}
	p.last = now
	p.draw(now)
}

func (p *progress) draw(now time.Time) {
	el := now.Sub(p.start).Seconds()
	frac := 1.0
	if p.total > 0 {
		frac = min(1, float64(p.sent)/float64(p.total))
	}
	const width = 30
	filled := int(frac * width)
	eta := "--"
	if frac > 0 && frac < 1 {
		eta = (time.Duration(el*(1-frac)/frac) * time.Second).Round(time.Second).String()
	}
	line := fmt.Sprintf("[%s%s] %3.0f%% %d docs %d chunks %.0f chunks/s ETA %s",
		strings.Repeat("=", filled), strings.Repeat(" ", width-filled), 100*frac, p.docs, p.chunks, float64(p.chunks)/max(el, 1e-3), eta)
	if p.tty {
		fmt.Fprintf(p.w, "\r%s", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
}

func (p *progress) done() {
	if p.quiet || !p.tty {
		return
	}
	p.draw(time.Now())
	if p.tty {
		fmt.Fprintln(p.w)
	}
}
