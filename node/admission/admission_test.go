package admission

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/nodetest/waitfor"
)

func TestFreeSlotAdmitsAtOnce(t *testing.T) {
	g := New(Config{Name: "retrieval", Slots: 2, TargetWait: 10 * time.Millisecond})
	r1, err := g.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r2, err := g.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s := g.Stats(); s.Running != 2 || s.Admitted != 2 {
		t.Fatalf("stats %+v: want 2 running, 2 admitted", s)
	}
	r1()
	r1() // a second release must not free a second slot
	r2()
	if s := g.Stats(); s.Running != 0 {
		t.Fatalf("running %d after release, want 0", s.Running)
	}
}

// A full gate must refuse at once, not after a wait: the client is told to
// come back instead of timing out in a queue.
func TestFullQueueRefusesAtOnce(t *testing.T) {
	g := New(Config{Name: "retrieval", Slots: 1, TargetWait: time.Second, MinQueue: 1, MaxQueue: 1, InitialService: 100 * time.Millisecond})
	hold, err := g.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer hold()
	waited := make(chan error, 1)
	go func() {
		rel, err := g.Acquire(context.Background())
		if err == nil {
			rel()
		}
		waited <- err
	}()
	waitfor.Until(t, 5*time.Second, "a request waits at the gate", func() bool { return g.Stats().Waiting == 1 })
	start := time.Now()
	_, err = g.Acquire(context.Background())
	took := time.Since(start)
	r, ok := IsRefusal(err)
	if !ok {
		t.Fatalf("third request: %v, want a refusal", err)
	}
	if r.Reason != "queue_full" || r.RetryAfter < time.Second {
		t.Fatalf("refusal %+v: want queue_full with Retry-After ≥ 1 s", r)
	}
	if took > 10*time.Millisecond {
		t.Fatalf("refusal took %v, want < 10 ms", took)
	}
	hold()
	if err := <-waited; err != nil {
		t.Fatalf("queued request: %v, want admitted once the slot freed", err)
	}
	if s := g.Stats(); s.Refused != 1 || s.Admitted != 2 {
		t.Fatalf("stats %+v: want 1 refused, 2 admitted", s)
	}
}

func TestDeadlineBeforeEstimatedStartRefuses(t *testing.T) {
	g := New(Config{Name: "generation", Slots: 1, TargetWait: 10 * time.Second, MinQueue: 4, InitialService: 2 * time.Second})
	hold, _ := g.Acquire(context.Background())
	defer hold()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := g.Acquire(ctx)
	if r, ok := IsRefusal(err); !ok || r.Reason != "deadline" {
		t.Fatalf("got %v, want a deadline refusal", err)
	}
	if took := time.Since(start); took > 10*time.Millisecond {
		t.Fatalf("refusal took %v, want at once", took)
	}
}

func TestClientGoneWhileWaiting(t *testing.T) {
	g := New(Config{Name: "ingest", Slots: 1, TargetWait: 10 * time.Second, MinQueue: 4})
	hold, _ := g.Acquire(context.Background())
	defer hold()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		if !waitfor.Within(5*time.Second, func() bool { return g.Stats().Waiting == 1 }) {
			t.Error("no request waited at the gate within 5 s")
		}
		cancel()
	}()
	if _, err := g.Acquire(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if w := g.Stats().Waiting; w != 0 {
		t.Fatalf("%d still waiting after the client left", w)
	}
}

// The queue holds what the slots serve within the target wait, so it
// shrinks when the work slows down.
func TestQueueFollowsServiceTime(t *testing.T) {
	for _, tc := range []struct {
		name      string
		service   time.Duration
		slots     int
		wantQueue int
	}{
		{"fast work queues many", time.Millisecond, 2, 40},
		{"slow work queues few", 10 * time.Millisecond, 2, 4},
		{"very slow work keeps the minimum", time.Second, 2, 3},
		{"very fast work stops at the maximum", time.Microsecond, 2, 128},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := New(Config{Name: "x", Slots: tc.slots, TargetWait: 20 * time.Millisecond, MinQueue: 3, InitialService: tc.service})
			if q := g.Stats().Queue; q != tc.wantQueue {
				t.Fatalf("queue %d, want %d", q, tc.wantQueue)
			}
		})
	}
}

func TestServiceTimeIsMeasured(t *testing.T) {
	g := New(Config{Name: "x", Slots: 1, TargetWait: time.Second, InitialService: time.Second})
	now := time.Unix(0, 0)
	var mu sync.Mutex
	g.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	for range 200 {
		rel, err := g.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		now = now.Add(10 * time.Millisecond)
		mu.Unlock()
		rel()
	}
	if s := g.Stats().Service; s < 9 || s > 11 {
		t.Fatalf("service %.2f ms after 200 requests of 10 ms, want about 10", s)
	}
}

func TestControllerUnknownClassIsUnbounded(t *testing.T) {
	c := NewController(Defaults(2)...)
	rel, err := c.Acquire(context.Background(), "something-else")
	if err != nil {
		t.Fatal(err)
	}
	rel()
	if got := len(c.Stats()); got != 3 {
		t.Fatalf("%d gates, want 3", got)
	}
	var nilc *Controller
	if rel, err := nilc.Acquire(context.Background(), Retrieval); err != nil {
		t.Fatal(err)
	} else {
		rel()
	}
}

func TestFullOnlyWhenSlotsAndQueueAreTaken(t *testing.T) {
	g := New(Config{Name: "x", Slots: 1, TargetWait: time.Second, MinQueue: 1, MaxQueue: 1})
	if g.Full() {
		t.Fatal("an idle gate reports full")
	}
	hold, _ := g.Acquire(context.Background())
	defer hold()
	if g.Full() {
		t.Fatal("full with an empty queue")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		if rel, err := g.Acquire(ctx); err == nil {
			rel()
		}
	}()
	waitfor.Until(t, 5*time.Second, "a request waits at the gate", func() bool { return g.Stats().Waiting == 1 })
	if !g.Full() {
		t.Fatal("not full with the slot and the queue taken")
	}
}

// TestReserveForQuietClients: a client that floods the gate is refused at
// the queue's bound; another client holding no place still gets in (the
// reserve), once, and the reserve is not the flood's to take.
func TestReserveForQuietClients(t *testing.T) {
	g := New(Config{Name: "retrieval", Slots: 1, TargetWait: time.Second, MinQueue: 2, MaxQueue: 2, InitialService: 100 * time.Millisecond, Reserve: 1})
	flood := WithClient(context.Background(), "10.0.0.1")
	quiet := WithClient(context.Background(), "10.0.0.2")
	stop, cancel := context.WithCancel(flood)
	defer cancel()
	var wg sync.WaitGroup
	for range 3 { // one running, two queued: the bound
		wg.Add(1)
		go func() {
			defer wg.Done()
			if rel, err := g.Acquire(stop); err == nil {
				<-stop.Done()
				rel()
			}
		}()
	}
	waitfor.Until(t, 5*time.Second, "the flood queued", func() bool { return g.Stats().Waiting == 2 })
	if full, _ := g.FullFor("10.0.0.1"); !full {
		t.Fatal("the flood's client is not refused at the bound")
	}
	if _, err := g.Acquire(flood); err == nil {
		t.Fatal("the flood took the reserve")
	}
	if full, _ := g.FullFor("10.0.0.2"); full {
		t.Fatal("a quiet client finds the gate full")
	}
	qctx, qcancel := context.WithCancel(quiet)
	got := make(chan error, 1)
	go func() {
		rel, err := g.Acquire(qctx)
		if err == nil {
			rel()
		}
		got <- err
	}()
	waitfor.Until(t, 5*time.Second, "the quiet client queued", func() bool { return g.Stats().Waiting == 3 })
	if full, _ := g.FullFor("10.0.0.3"); !full {
		t.Fatal("the reserve, taken, is still open")
	}
	qcancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("quiet client: %v", err)
	}
	cancel()
	wg.Wait()
	if s := g.Stats(); s.Running != 0 || s.Waiting != 0 || len(g.holding) != 0 {
		t.Fatalf("after the flood: %+v, holding %v", s, g.holding)
	}
}
