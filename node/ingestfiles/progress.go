package ingestfiles

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Progress draws a one-line progress bar with rate and ETA on a terminal,
// and a line every few seconds otherwise.
type Progress struct {
	w           io.Writer
	total, sent int64
	docs        int
	chunks      int
	start, last time.Time
	quiet, tty  bool
}

func NewProgress(w io.Writer, total int64, quiet bool) *Progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	now := time.Now()
	// Off a terminal (a log, a pipe) a line every few seconds tells a long
	// ingest is alive; a short one prints none, as the summary follows.
	return &Progress{w: w, total: total, start: now, last: now, quiet: quiet, tty: tty}
}

func (p *Progress) Add(bytes int64, docs, chunks int) {
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

func (p *Progress) draw(now time.Time) {
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

func (p *Progress) Done() {
	if p.quiet || !p.tty {
		return
	}
	p.draw(time.Now())
	if p.tty {
		fmt.Fprintln(p.w)
	}
}
