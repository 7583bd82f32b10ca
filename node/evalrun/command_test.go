package evalrun_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
