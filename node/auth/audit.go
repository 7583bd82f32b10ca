package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Kinds of audit events.
const (
	EventAdmin      = "admin"      // an admin action: publish, rollout, config, keys, tokens
	EventDenied     = "denied"     // a valid token without the role the request needs
	EventBadToken   = "bad_token"  // a missing, malformed, unknown or revoked token
	EventEscalation = "escalation" // a question sent to, or received from, another node
	EventRevocation = "revocation" // a token or a certificate revoked
	EventBootstrap  = "bootstrap"  // the first admin token written
)

// Event is one line of the audit log.
type Event struct {
	Seq       uint64    `json:"seq"`
	At        time.Time `json:"at"`
	Kind      string    `json:"kind"`
	Principal string    `json:"principal,omitempty"` // who did it
	Action    string    `json:"action"`              // e.g. "POST /v1/publish"
	Detail    string    `json:"detail,omitempty"`
	Remote    string    `json:"remote,omitempty"` // client address or node name
	// Suppressed counts events of this kind dropped just before this one
	// because they came faster than the log takes them.
	Suppressed int `json:"suppressed,omitempty"`
}

// Audit is the node's append-only audit log, kept in the store and bounded
// to its newest Max events. Record does not block: events are written in
// batches by Run, so a flood of refused requests costs one write per batch,
// not one fsync each, and refusals of a kind beyond FailureRate a second are
// counted rather than written.
type Audit struct {
	kv  KV
	max int
	now func() time.Time
	log *slog.Logger

	in chan Event

	mu          sync.Mutex // guards the fields below
	next, first uint64     // next seq to write, oldest seq kept
	window      time.Time  // start of the current rate window
	inWindow    map[string]int
	suppressed  map[string]int
	// pending counts events recorded and not yet written; drained is
	// signalled when writes bring it down, so Flush can wait for an event
	// Run has taken but not yet written.
	pending int
	drained *sync.Cond
	running bool // Run is writing events; Flush waits only then
}

// DefaultAuditMax is how many events the log keeps by default.
const DefaultAuditMax = 10000

// failureRate bounds written refusals per kind and second.
const failureRate = 20

// OpenAudit opens the audit log in kv, keeping at most max events (0:
// DefaultAuditMax).
func OpenAudit(ctx context.Context, kv KV, max int, now func() time.Time, log *slog.Logger) (*Audit, error) {
	if max <= 0 {
		max = DefaultAuditMax
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Audit{kv: kv, max: max, now: now, log: log, in: make(chan Event, 1024),
		inWindow: make(map[string]int), suppressed: make(map[string]int)}
	a.drained = sync.NewCond(&a.mu)
	first := true
	err := kv.Scan(ctx, "log/", true, func(k string, _ []byte) error {
		seq, err := strconv.ParseUint(strings.TrimPrefix(k, "log/"), 10, 64)
		if err != nil {
			return fmt.Errorf("audit key %q: %w", k, err)
		}
		if first {
			a.first, first = seq, false
		}
		a.next = seq + 1
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	if first {
		a.first, a.next = 1, 1
	}
	return a, nil
}

func auditKey(seq uint64) string { return fmt.Sprintf("log/%020d", seq) }

// Record queues an event. It never blocks; when the queue is full the event
// is counted as suppressed.
func (a *Audit) Record(e Event) {
	if a == nil {
		return
	}
	e.At = a.now().UTC()
	a.mu.Lock()
	if e.Kind == EventBadToken || e.Kind == EventDenied {
		if e.At.Sub(a.window) >= time.Second {
			a.window = e.At
			clear(a.inWindow)
		}
		if a.inWindow[e.Kind]++; a.inWindow[e.Kind] > failureRate {
			a.suppressed[e.Kind]++
			a.mu.Unlock()
			return
		}
	}
	e.Suppressed, a.suppressed[e.Kind] = a.suppressed[e.Kind], 0
	a.pending++
	a.mu.Unlock()
	select {
	case a.in <- e:
	default:
		a.mu.Lock()
		a.suppressed[e.Kind] += 1 + e.Suppressed
		a.pending--
		a.drained.Broadcast()
		a.mu.Unlock()
	}
}

// Run writes queued events until ctx ends, then writes what is left. An
// event is written as soon as Run takes it, with whatever queued up behind
// it (at most 256 a write): a flood still costs one write per batch.
func (a *Audit) Run(ctx context.Context) {
	a.mu.Lock()
	a.running = true
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.running = false
		a.drained.Broadcast()
		a.mu.Unlock()
	}()
	var batch []Event
	for {
		select {
		case e := <-a.in:
			batch = append(batch, e)
		more:
			for len(batch) < 256 {
				select {
				case e := <-a.in:
					batch = append(batch, e)
				default:
					break more
				}
			}
		case <-ctx.Done():
			for {
				select {
				case e := <-a.in:
					batch = append(batch, e)
					continue
				default:
				}
				break
			}
			a.write(context.WithoutCancel(ctx), batch)
			return
		}
		a.write(ctx, batch)
		batch = batch[:0]
	}
}

// Flush writes the queued events now; for tests and commands that read
// the log right after acting.
func (a *Audit) Flush(ctx context.Context) {
	var batch []Event
	for {
		select {
		case e := <-a.in:
			batch = append(batch, e)
			continue
		default:
		}
		break
	}
	a.write(ctx, batch)
	// Run may hold events it took before this drain: wait for them too.
	a.mu.Lock()
	for a.pending > 0 && a.running {
		a.drained.Wait()
	}
	a.mu.Unlock()
}

func (a *Audit) write(ctx context.Context, batch []Event) {
	if len(batch) == 0 {
		return
	}
	a.mu.Lock()
	defer func() {
		a.pending -= len(batch)
		a.drained.Broadcast()
		a.mu.Unlock()
	}()
	sets := make(map[string][]byte, len(batch))
	next := a.next
	for _, e := range batch {
		e.Seq = next
		b, err := json.Marshal(e)
		if err != nil {
			continue
		}
		sets[auditKey(next)] = b
		next++
	}
	first := a.first
	var deletes []string
	for next-first > uint64(a.max) {
		deletes = append(deletes, auditKey(first))
		first++
	}
	if err := a.kv.PutDelete(ctx, sets, deletes); err != nil {
		a.log.Warn("audit log write failed; events lost", "events", len(batch), "err", err)
		return
	}
	a.next, a.first = next, first
}

// Read returns up to limit events with Seq > after, oldest first.
func (a *Audit) Read(ctx context.Context, after uint64, limit int) ([]Event, error) {
	var out []Event
	err := a.kv.Scan(ctx, "log/", false, func(k string, v []byte) error {
		if len(out) >= limit {
			return nil
		}
		var e Event
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("audit event %s: %w", k, err)
		}
		if e.Seq > after {
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return out, nil
}

// Last returns the seq of the newest event written.
func (a *Audit) Last() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.next - 1
}
