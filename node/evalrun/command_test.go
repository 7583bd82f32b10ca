package evalrun_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgerag/edgerag/models/confidence"
	"github.com/edgerag/edgerag/node/evalrun"
)

// TestConfigRun runs 'edgerag eval' as its flags configure it on a tiny
// dataset: the JSON figures, and the TREC run written beside them.
func TestConfigRun(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"corpus.jsonl":  `{"id":"pump","title":"Pump","text":"To reset the pump hold the red button."}` + "\n" + `{"id":"valve","title":"Valve","text":"The valve is greased monthly."}` + "\n",
		"queries.jsonl": `{"id":"q1","text":"reset the pump"}` + "\n",
		"qrels.tsv":     "q1\tpump\t1\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var c evalrun.Config
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	c.AddFlags(fs)
	runOut := filepath.Join(t.TempDir(), "run.txt")
	if err := fs.Parse([]string{"--json", "--run-out", runOut}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := c.Run(context.Background(), dir, nil, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var rep evalrun.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.Queries != 1 || rep.Recall10 != 1 || rep.K1 != 0.9 {
		t.Fatalf("report %s: %+v %v", out.String(), rep, err)
	}
	run, err := os.ReadFile(runOut)
	if err != nil || !strings.HasPrefix(string(run), "q1 Q0 pump 1 ") {
		t.Fatalf("run file %q: %v", run, err)
	}
}

// TestFleetWarmup runs 'edgerag eval --fleet 2' on a tiny dataset: half the
// questions warm the edges up unscored, the other half are measured, and
// each edge reports what it learned from central's answers.
func TestFleetWarmup(t *testing.T) {
	dir := t.TempDir()
	var corpus, queries, qrels strings.Builder
	machines := []string{"boiler", "chiller", "compressor", "conveyor", "extruder", "furnace", "grinder", "lathe"}
	for i, m := range machines {
		fmt.Fprintf(&corpus, `{"id":%q,"title":"%s manual","text":"The %s on line %d is serviced every %d hours; reset it on panel %c."}`+"\n", m, m, m, i, 100*(i+1), 'A'+i)
		fmt.Fprintf(&queries, `{"id":"q%d","text":"how often is the %s serviced"}`+"\n", i, m)
		fmt.Fprintf(&qrels, "q%d\t%s\t1\n", i, m)
	}
	for name, body := range map[string]string{"corpus.jsonl": corpus.String(), "queries.jsonl": queries.String(), "qrels.tsv": qrels.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) (evalrun.FleetReport, error) {
		var c evalrun.Config
		fs := flag.NewFlagSet("eval", flag.ContinueOnError)
		c.AddFlags(fs)
		if err := fs.Parse(append([]string{"--json", "--fleet", "2"}, args...)); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		var rep evalrun.FleetReport
		err := c.Run(context.Background(), dir, nil, nil, &out, io.Discard)
		if err == nil {
			err = json.Unmarshal(out.Bytes(), &rep)
		}
		return rep, err
	}
	rep, err := run("--warmup", "0.5", "--escalate-below", "0.99")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Warmup != 4 || rep.Queries != 4 || !rep.Recalibrated || len(rep.Edge) != 2 {
		t.Fatalf("report %+v; want 4 warm-up and 4 measured questions and both edges' recalibration", rep)
	}
	var labels int64
	for _, e := range rep.Edge {
		labels += e.Labels
	}
	if labels == 0 {
		t.Errorf("edges learned from %d answers of central; every question escalated below 0.99", labels)
	}
	if rep, err := run("--no-recalibrate"); err != nil || rep.Recalibrated || rep.Edge != nil {
		t.Errorf("--no-recalibrate: %+v %v", rep, err)
	}
	// Before any label an edge routes on the prior; --recal-from-model
	// starts it from the model as fitted (escalate-below as set).
	prior := confidence.DefaultOnlineOptions().Initial().Threshold(0.0001)
	for _, tc := range []struct {
		args []string
		want float64
	}{
		{nil, prior},
		{[]string{"--recal-from-model"}, 0.0001},
	} {
		rep, err := run(append([]string{"--warmup", "0", "--escalate-below", "0.0001"}, tc.args...)...)
		if err != nil {
			t.Fatal(err)
		}
		unlabelled := 0
		for i, e := range rep.Edge {
			if e.Labels > 0 {
				continue
			}
			unlabelled++
			if math.Abs(e.Threshold-tc.want) > 1e-12 {
				t.Errorf("%v: edge %d escalates below raw %v before any label; want %v", tc.args, i, e.Threshold, tc.want)
			}
		}
		if unlabelled == 0 {
			t.Errorf("%v: every edge escalated below 0.0001 and learned; nothing shows where an edge starts", tc.args)
		}
	}
	if _, err := run("--warmup", "1"); err == nil || !strings.Contains(err.Error(), "--warmup") {
		t.Errorf("--warmup 1: %v; want an error naming the flag", err)
	}
}
