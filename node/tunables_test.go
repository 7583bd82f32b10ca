package node_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node"
)

func TestTunablesSet(t *testing.T) {
	base := node.Tunables{EscalateBelow: 0.35, MinConfidence: 0.15, QueryTimeout: 5 * time.Second, CentralCooldown: 30 * time.Second}
	for _, tc := range []struct {
		name, value string
		check       func(node.Tunables) bool
		err         string
	}{
		{"escalate-below", "0.9", func(t node.Tunables) bool { return t.EscalateBelow == 0.9 }, ""},
		{"escalate-below", "0", func(t node.Tunables) bool { return t.EscalateBelow == 0 }, ""},
		{"min-confidence", "1", func(t node.Tunables) bool { return t.MinConfidence == 1 }, ""},
		{"query-timeout", "1m30s", func(t node.Tunables) bool { return t.QueryTimeout == 90*time.Second }, ""},
		{"central-cooldown", "2s", func(t node.Tunables) bool { return t.CentralCooldown == 2*time.Second }, ""},
		{"escalate-below", "1.5", nil, "between 0 and 1"},
		{"escalate-below", "NaN", nil, "between 0 and 1"},
		{"min-confidence", "high", nil, "want a number"},
		{"query-timeout", "5", nil, "want a duration"},
		{"query-timeout", "10ms", nil, "between"},
		{"central-cooldown", "0s", nil, "above 0"},
		{"gen-model", "qwen3", nil, "cannot change at run time"},
		{"data", "/tmp", nil, "cannot change at run time"},
	} {
		got := base
		err := got.Set(tc.name, tc.value)
		switch {
		case tc.err == "" && (err != nil || !tc.check(got)):
			t.Errorf("Set(%q, %q) = %+v, %v", tc.name, tc.value, got, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("Set(%q, %q): %v, want an error with %q", tc.name, tc.value, err, tc.err)
		case tc.err != "" && got != base:
			t.Errorf("Set(%q, %q) failed but changed the settings to %+v", tc.name, tc.value, got)
		}
		if tc.err == "" {
			v, ok := got.Get(tc.name)
			var back node.Tunables = base
			if !ok || back.Set(tc.name, v) != nil || back != got {
				t.Errorf("Get(%q) = %q does not round-trip", tc.name, v)
			}
		}
	}
}

// TestSetTunablesAtRunTime changes the escalation threshold of a running
// node and sees the change logged and in force.
func TestSetTunablesAtRunTime(t *testing.T) {
	var logs bytes.Buffer
	n, err := node.New(node.Config{DataDir: t.TempDir(), NoSync: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	before := n.Tunables()
	if before.QueryTimeout != 5*time.Second || before.MinConfidence != node.DefaultMinConfidence {
		t.Fatalf("defaults: %+v", before)
	}
	next := before
	next.EscalateBelow = 0.8
	if err := n.SetTunables(next, "fleet config v3"); err != nil {
		t.Fatal(err)
	}
	if n.Tunables() != next {
		t.Fatalf("after SetTunables: %+v, want %+v", n.Tunables(), next)
	}
	if !strings.Contains(logs.String(), "setting=escalate-below") || !strings.Contains(logs.String(), `by="fleet config v3"`) {
		t.Errorf("the change was not logged: %s", logs.String())
	}
	bad := next
	bad.QueryTimeout = 0
	if err := n.SetTunables(bad, "test"); err == nil || n.Tunables() != next {
		t.Errorf("an invalid setting was accepted: %v, now %+v", err, n.Tunables())
	}
}
