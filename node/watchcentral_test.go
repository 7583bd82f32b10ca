package node_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/nodetest"
)

// idleCentral is a Remote whose connection state and ping the test sets:
// what the QUIC connection to central reports, and whether a ping answers.
type idleCentral struct {
	mu       sync.Mutex
	heard    uint64
	open     bool
	pingOK   bool
	pingHear bool // a failing ping still hears packets (central slow)
	pings    int
	asked    int
}

func (c *idleCentral) set(f func(*idleCentral)) { c.mu.Lock(); f(c); c.mu.Unlock() }

func (c *idleCentral) AskCentral(ctx context.Context, q api.QueryRequest) (api.QueryResponse, error) {
	c.set(func(c *idleCentral) { c.asked++ })
	<-ctx.Done()
	return api.QueryResponse{}, ctx.Err()
}

func (c *idleCentral) ProbeCentral(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pings++
	if c.pingHear {
		c.heard += 2
	}
	if c.pingOK {
		return nil
	}
	return errors.New("ping: no answer")
}

func (c *idleCentral) CentralHeard() (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.heard, c.open
}

// TestWatchCentralWhileIdle: with no query in flight, the node opens the
// circuit to central when its connection closes or goes quiet and a ping
// fails too; a connection that keeps hearing, a ping that answers, or one
// that hears packets though it timed out (central slow) leave it closed.
func TestWatchCentralWhileIdle(t *testing.T) {
	for _, tc := range []struct {
		name string
		then func(*idleCentral) // after the connection was seen open and live
		want string
	}{
		{"keeps hearing", nil, "closed"},
		{"quiet, the ping answers", func(c *idleCentral) { c.pingOK = true }, "closed"},
		{"quiet, the ping hears central though it times out", func(c *idleCentral) { c.pingHear = true }, "closed"},
		{"quiet, the ping fails", func(c *idleCentral) {}, "open"},
		{"closed, the ping fails", func(c *idleCentral) { c.open = false }, "open"},
		{"closed, the ping answers (another replica)", func(c *idleCentral) { c.open, c.pingOK = false, true }, "closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			watchIdle(t, tc.then, tc.want)
		})
	}
}

// watchIdle runs one case of TestWatchCentralWhileIdle.
func watchIdle(t *testing.T, then func(*idleCentral), want string) {
	ctx := context.Background()
	c := &idleCentral{open: true, heard: 10}
	n := nodetest.OpenNode(t, node.Config{Name: "edge", DataDir: t.TempDir(), NoSync: true, Remote: c,
		CentralQuiet: 600 * time.Millisecond, CentralCooldown: time.Minute})
	// Live: the count grows every tick for a while.
	for range 4 {
		c.set(func(c *idleCentral) { c.heard++ })
		time.Sleep(150 * time.Millisecond)
	}
	if then != nil {
		c.set(then)
	}
	deadline := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if then == nil {
			c.set(func(c *idleCentral) { c.heard++ })
		}
		time.Sleep(100 * time.Millisecond)
	}
	st, err := n.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	if st.Central != want || c.asked != 0 {
		t.Errorf("%s: circuit %q after %d pings, %d questions asked; want %s and no question", t.Name(), st.Central, c.pings, c.asked, want)
	}
	if then == nil && c.pings != 0 {
		t.Errorf("%s: %d pings to a central that kept answering keep-alives", t.Name(), c.pings)
	}
	c.mu.Unlock()
	n.Close()
}
