package cliprint

import (
	"strings"
	"testing"
)

// TestPrintSyncStatus checks what a person reads from 'edgerag sync
// status': central's transfers as progress bars, an edge's fleet config
// settings with their sources.
func TestPrintSyncStatus(t *testing.T) {
	central := `{"role":"central","published":[{"shard":"manuals","version":9}],"config":2,"models":4,
		"edges":[{"node":"e1","shard":"manuals","version":8,"healthy":true,"at":"2026-01-02T03:04:05Z"}],
		"transfers":[{"node":"e2","shard":"manuals","target":9,"state":"fetching","chunks_done":30,"chunks_total":120,"bytes_done":2500,"bytes_total":10000,"at":"2026-01-02T03:04:05Z"}]}`
	var b strings.Builder
	if err := SyncStatus(&b, []byte(central)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"(fleet config)           version 2", "(models)                 version 4", "e2", "█████░░░░░░░░░░░░░░░  25%", "30/120 chunks", "e1", "healthy (latest 9)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("central's status lacks %q:\n%s", want, b.String())
		}
	}
	edge := `{"role":"edge","central":"central at x","shards":[],"config":{"applied":3,"applied_at":"2026-01-02T03:04:05Z",
		"last_error":"config refused: version 2 is not newer","settings":[{"name":"escalate-below","value":"0.9","source":"fleet config v3"},
		{"name":"query-timeout","value":"5s","source":"flag (over fleet config v3)"}]},
		"models":{"applied":2,"applied_at":"2026-01-02T03:04:05Z","state":"error","models":[{"name":"gen-b:latest","role":"generation"}],
		"last_error":"model manifest refused: version 1 is not newer than version 2 already applied (replayed or stale manifest)"}}`
	b.Reset()
	if err := SyncStatus(&b, []byte(edge)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fleet config: version 3", "escalate-below     0.9        fleet config v3", "flag (over fleet config v3)", "not newer",
		"models: version 2 applied 2026-01-02T03:04:05Z  error", "gen-b:latest                     generation", "version 1 is not newer than version 2"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("an edge's status lacks %q:\n%s", want, b.String())
		}
	}
}
