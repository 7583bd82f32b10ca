package main

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/edgerag/edgerag/models/confidence"
	"github.com/edgerag/edgerag/node/api"
)

// metricValue reads one unlabelled gauge from a node's /metrics.
func metricValue(t *testing.T, url, name string) (float64, bool) {
	t.Helper()
	resp, err := testGet(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s = %q: %v", name, v, err)
			}
			return f, true
		}
	}
	return 0, false
}

// TestEdgeRecalibratesFromCentralAndKeepsItAcrossKill9 runs central and an
// edge as processes over real QUIC. The edge holds the same manuals as
// central but escalates below 0.99, so its questions go to central, whose
// answers cite the documents the edge had cited: the edge learns that its
// own answers would have done, and the model confidence below which it
// escalates falls (on /metrics and the status) until it keeps them. After kill -9 and
// a restart on the same data the edge escalates where it had learned to.
func TestEdgeRecalibratesFromCentralAndKeepsItAcrossKill9(t *testing.T) {
	ctx := context.Background()
	tls := fleetDir(t, "central", "edge-1")
	central := startProc(t, []string{"central", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0", "--tls-dir", tls, "--name", "central", "--no-sync"})
	edgeData := t.TempDir()
	edgeArgs := []string{"serve", "--data", edgeData, "--http", "127.0.0.1:0", "--tls-dir", tls, "--name", "edge-1",
		"--central", central.quic, "--escalate-below", "0.99", "--query-timeout", "3s"}
	edge := startProc(t, edgeArgs)

	machines := []string{"boiler", "chiller", "compressor", "conveyor", "extruder", "furnace", "grinder", "lathe", "mixer", "palletiser", "pump", "welder"}
	var docs []api.Document
	for i, m := range machines {
		docs = append(docs, api.Document{ID: m, Title: "Manual of the " + m,
			Body: fmt.Sprintf("The %s on line %d is serviced every %d hours. To restart the %s after a fault, clear the %s alarm on panel %c and hold the green start button for three seconds.", m, i+1, 100*(i+2), m, m, 'A'+i)})
	}
	if _, err := testClient(central.url).Ingest(ctx, docs); err != nil {
		t.Fatal(err)
	}
	ec := testClient(edge.url)
	if _, err := ec.Ingest(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if _, ok := metricValue(t, edge.url, "edgerag_recalibration_labels"); !ok {
		t.Fatal("the edge's /metrics has no edgerag_recalibration_labels")
	}
	// Before any label the edge routes on the fleet's prior map
	// (confidence.OnlineOptions.Start), not on the model as fitted.
	if v, _ := metricValue(t, edge.url, "edgerag_escalation_threshold_raw"); v != confidence.DefaultOnlineOptions().Initial().Threshold(0.99) {
		t.Fatalf("before any escalation the edge escalates below model confidence %v; want %v (the prior at 0.99)", v, confidence.DefaultOnlineOptions().Initial().Threshold(0.99))
	}

	escalated, kept := 0, 0
	for _, m := range machines {
		r, err := ec.Query(ctx, api.QueryRequest{Question: "How do I restart the " + m + " after a fault?"})
		if err != nil {
			t.Fatal(err)
		}
		switch r.Route {
		case "central":
			escalated++
		case "local":
			kept++
		}
	}
	labels, _ := metricValue(t, edge.url, "edgerag_recalibration_labels")
	threshold, _ := metricValue(t, edge.url, "edgerag_escalation_threshold_raw")
	if escalated == 0 || labels != float64(escalated) {
		t.Errorf("%d questions escalated and the edge learned from %v of central's answers; want at least one, all learned from", escalated, labels)
	}
	if !(threshold < 0.98) || kept == 0 {
		t.Errorf("central agreed with all %d escalated answers, yet the edge still escalates below model confidence %.3f and kept %d questions", escalated, threshold, kept)
	}
	st, err := ec.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Recalibration == nil || st.Recalibration.Threshold != threshold || st.Recalibration.Agreed != 1 {
		t.Errorf("status recalibration %+v; want threshold %v and every answer agreed", st.Recalibration, threshold)
	}

	if err := edge.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = edge.cmd.Wait()
	edge = startProc(t, edgeArgs)
	if v, _ := metricValue(t, edge.url, "edgerag_recalibration_labels"); v != labels {
		t.Errorf("after kill -9 and restart: %v labels; before %v", v, labels)
	}
	if v, _ := metricValue(t, edge.url, "edgerag_escalation_threshold_raw"); v != threshold {
		t.Errorf("after kill -9 and restart: escalates below %v; before %v", v, threshold)
	}
}
