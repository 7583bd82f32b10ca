package main

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/api"
)

// TestIdleCentralKilledOpensTheCircuit: central is killed (SIGKILL) while
// the edge is idle. The edge learns it from its QUIC connection (its
// keep-alives go unanswered) and a ping, with no query involved, so the
// very next query answers at once, locally, labelled degraded, and
// abstains (the edge does not hold the answer). Before the kill, an idle
// but live central keeps the circuit closed.
func TestIdleCentralKilledOpensTheCircuit(t *testing.T) {
	ctx := context.Background()
	tls := fleetDir(t, "central", "edge-1")
	central := startProc(t, []string{"central", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0", "--tls-dir", tls, "--name", "central"})
	edge := startProc(t, []string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--tls-dir", tls, "--name", "edge-1",
		"--central", central.quic, "--query-timeout", "2s"})
	press := api.Document{ID: "press", Title: "Hydraulic press H-3", Body: "The hydraulic press uses ISO VG 46 oil, changed every 2,000 operating hours."}
	if _, err := testClient(central.url).Ingest(ctx, []api.Document{press}); err != nil {
		t.Fatal(err)
	}
	ec := testClient(edge.url)
	q := api.QueryRequest{Question: "Which oil does the hydraulic press use?"}
	if r, err := ec.Query(ctx, q); err != nil || r.Route != "central" {
		t.Fatalf("before the kill: %+v %v", r, err)
	}
	circuit := func() string {
		t.Helper()
		st, err := ec.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st.Central
	}
	time.Sleep(4 * time.Second) // idle longer than the node's quiet limit (3 s)
	if c := circuit(); c != "closed" {
		t.Fatalf("an idle, live central opened the circuit: %q", c)
	}

	if err := central.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = central.cmd.Wait()
	killed := time.Now()
	for circuit() != "open" {
		if time.Since(killed) > 8*time.Second {
			t.Fatalf("the circuit is still %q %v after central was killed, with no query asked", circuit(), time.Since(killed))
		}
		time.Sleep(50 * time.Millisecond)
	}
	opened := time.Since(killed)
	start := time.Now()
	r, err := ec.Query(ctx, q)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if r.Route != "local" || !r.Degraded || !r.Abstained || took > 300*time.Millisecond {
		t.Fatalf("the first query after the kill: route %q degraded %v abstained %v reasons %v after %v; want a local, degraded abstention at once",
			r.Route, r.Degraded, r.Abstained, r.Reasons, took)
	}
	t.Logf("circuit opened %v after the kill with no query; the first query then answered in %v (reasons %v)", opened.Round(time.Millisecond), took.Round(time.Millisecond), r.Reasons)
}
