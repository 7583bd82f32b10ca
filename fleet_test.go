package main

import (
	"context"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/api"
)

// fleetDir makes a fleet CA and certificates for the named nodes with the
// CLI, as an operator would.
func fleetDir(t *testing.T, central string, edges ...string) string {
	t.Helper()
	ca, tls := t.TempDir(), t.TempDir()
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(binary, args...).CombinedOutput(); err != nil {
			t.Fatalf("edgerag %v: %v\n%s", args, err, out)
		}
	}
	run("ca", "init", "--dir", ca, "--fleet", "test")
	run("cert", "issue", "--ca", ca, "--out", tls, "--name", central, "--role", "central")
	for _, e := range edges {
		run("cert", "issue", "--ca", ca, "--out", tls, "--name", e)
	}
	if out, err := exec.Command("cp", ca+"/ca.crt", tls).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	return tls
}

// TestEscalationToCentral runs central and an edge as processes over real
// QUIC with mutual TLS: the edge answers what it holds, asks central for
// what it does not, and keeps answering — degraded, within its deadline —
// when central is killed, then escalates again once central is back.
func TestEscalationToCentral(t *testing.T) {
	ctx := context.Background()
	tls := fleetDir(t, "central", "edge-1")
	centralData := t.TempDir()
	central := startProc(t, []string{"central", "--data", centralData, "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0", "--tls-dir", tls, "--name", "central"})
	edge := startProc(t, []string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--tls-dir", tls, "--name", "edge-1",
		"--central", central.quic, "--query-timeout", "2s", "--central-cooldown", "500ms"})

	pump := api.Document{ID: "pump", Title: "Pump P-100", Body: "To reset the pump press the blue RESET button on panel B after the overload cause is removed."}
	press := api.Document{ID: "press", Title: "Hydraulic press H-3", Body: "The hydraulic press uses ISO VG 46 oil, changed every 2,000 operating hours."}
	if _, err := testClient(central.url).Ingest(ctx, []api.Document{pump, press}); err != nil {
		t.Fatal(err)
	}
	ec := testClient(edge.url)
	if _, err := ec.Ingest(ctx, []api.Document{pump}); err != nil {
		t.Fatal(err)
	}

	local, err := ec.Query(ctx, api.QueryRequest{Question: "How do I reset the pump? blue RESET button panel"})
	if err != nil {
		t.Fatal(err)
	}
	if local.Route != "local" || local.Degraded {
		t.Errorf("a question the edge holds left it: route %q reasons %v confidence %.2f", local.Route, local.Reasons, local.Confidence)
	}
	far, err := ec.Query(ctx, api.QueryRequest{Question: "Which oil does the hydraulic press use?"})
	if err != nil {
		t.Fatal(err)
	}
	if far.Route != "central" || far.Node != "central" || len(far.Citations) == 0 || far.Citations[0].DocumentID != "press" {
		t.Fatalf("question only central can answer: route %q node %q citations %+v reasons %v", far.Route, far.Node, far.Citations, far.Reasons)
	}
	st, _ := ec.Status(ctx)
	if st.Escalations["low_confidence"] == 0 || st.Central != "closed" {
		t.Errorf("status after an escalation: escalations %v central %q", st.Escalations, st.Central)
	}

	// Central dies: the edge answers locally, labelled, before its deadline.
	if err := central.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = central.cmd.Wait()
	slow := 0
	for i := range 4 {
		start := time.Now()
		r, err := ec.Query(ctx, api.QueryRequest{Question: "Which oil does the hydraulic press use?"})
		took := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		if r.Route != "local" || !r.Degraded || took > 2500*time.Millisecond {
			t.Fatalf("query %d with central down: route %q degraded %v reasons %v after %v", i, r.Route, r.Degraded, r.Reasons, took)
		}
		if !r.Abstained {
			t.Errorf("query %d with central down: the edge does not hold the press manual, yet answered %q (confidence %.2f)", i, r.Answer, r.Confidence)
		}
		if took > 300*time.Millisecond {
			slow++
		}
	}
	// Issue 11: after kill -9 of central, at most one query waits for it.
	if slow > 1 {
		t.Errorf("%d of 4 queries waited for a dead central; want at most 1", slow)
	}
	st, _ = ec.Status(ctx)
	if st.Central != "open" {
		t.Errorf("circuit after repeated failures: %q, want open", st.Central)
	}

	// Central comes back on the same address: escalations resume without
	// restarting the edge.
	central = startProc(t, []string{"central", "--data", centralData, "--http", "127.0.0.1:0", "--quic", central.quic, "--tls-dir", tls, "--name", "central"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := ec.Query(ctx, api.QueryRequest{Question: "Which oil does the hydraulic press use?"})
		if err == nil && r.Route == "central" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("escalations did not resume after central restarted: %+v %v", r, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestNodeWithoutFleetCertCannotAsk checks that an edge whose certificate
// comes from another CA gets no answer from central, and says so.
func TestNodeWithoutFleetCertCannotAsk(t *testing.T) {
	ctx := context.Background()
	tls := fleetDir(t, "central")
	other := fleetDir(t, "central", "edge-1") // a different CA
	central := startProc(t, []string{"central", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0", "--tls-dir", tls, "--name", "central"})
	if _, err := testClient(central.url).Ingest(ctx, []api.Document{{ID: "press", Body: "The hydraulic press uses ISO VG 46 oil."}}); err != nil {
		t.Fatal(err)
	}
	edge := startProc(t, []string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--tls-dir", other, "--name", "edge-1", "--central", central.quic, "--query-timeout", "2s"})
	r, err := testClient(edge.url).Query(ctx, api.QueryRequest{Question: "Which oil does the press use?"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Route == "central" || !r.Degraded {
		t.Fatalf("an edge outside the fleet got an answer from central: %+v", r)
	}
}
