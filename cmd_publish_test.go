package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadFleetConfig: a fleet config file is checked line by line before
// anything is published.
func TestReadFleetConfig(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, text string
		want       map[string]string
		err        []string
	}{
		{"serve layout", "[retrieval]\nmin-confidence = 0.2\n[fleet]\nescalate-below = 0.4\ncentral-cooldown = \"1m\"\n",
			map[string]string{"min-confidence": "0.2", "escalate-below": "0.4", "central-cooldown": "1m"}, nil},
		{"empty", "", map[string]string{}, nil},
		{"not run time", "[models]\ngen-model = \"qwen3\"\n", nil, []string{"only [central-cooldown", ":2: unknown key \"gen-model\""}},
		{"out of range", "[fleet]\nescalate-below = 2\n", nil, []string{":2: escalate-below 2: must be between 0 and 1"}},
		{"wrong table", "escalate-below = 0.5\n", nil, []string{":1:", "belongs in the [fleet] table"}},
		{"wrong type", "[fleet]\nquery-timeout = 5\n", nil, []string{":2:", "duration"}},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".toml")
		if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := readFleetConfig(path)
		if tc.err == nil {
			if err != nil || len(got) != len(tc.want) {
				t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s: %s = %q, want %q", tc.name, k, got[k], v)
				}
			}
			continue
		}
		for _, want := range tc.err {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %v, want it to say %q", tc.name, err, want)
			}
		}
	}
}
