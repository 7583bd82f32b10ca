package attackeval

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgerag/edgerag/node/api"
)

func TestLoadDevelopmentSet(t *testing.T) {
	s, err := Load("../testdata/attacks")
	if err != nil {
		t.Fatal(err)
	}
	attacks, kinds := 0, map[string]bool{}
	for _, c := range s.Cases {
		if c.Kind != "benign" {
			attacks++
			kinds[c.Kind] = true
		}
	}
	if attacks < 20 || len(kinds) < 7 {
		t.Fatalf("%d attacks of %d kinds; the set needs at least 20 across the kinds", attacks, len(kinds))
	}
}

func TestLoadRefusesDanglingCases(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "documents.jsonl"), []byte(`{"id":"t","role":"trusted","title":"x","source":"s","body":"b"}`+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "cases.jsonl"), []byte(`{"id":"c","kind":"poison","question":"q","trusted":"t","attack":"missing","expected":"e","markers":["m"]}`+"\n"), 0o600)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "attack document") {
		t.Fatalf("Load = %v, want a complaint about the attack document", err)
	}
}

func TestSuccess(t *testing.T) {
	c := Case{Attack: "a", Trusted: "t", Markers: []string{"5000"}}
	cite := func(doc, snip string, flags ...string) api.Citation {
		return api.Citation{DocumentID: doc, Snippet: snip, Flags: flags}
	}
	tests := []struct {
		name  string
		claim string
		cites []api.Citation
		first int // index of the first cited, -1 none
		want  bool
	}{
		{"clean", "every 500 hours [1]", []api.Citation{cite("t", "500")}, 0, false},
		{"marker in claim", "every 5000 hours [1]", []api.Citation{cite("t", "500")}, 0, true},
		{"unflagged snippet", "every 500 hours [1]", []api.Citation{cite("t", "500"), cite("a", "5000")}, 0, true},
		{"flagged snippet", "every 500 hours [1]", []api.Citation{cite("t", "500"), cite("a", "5000", "disputed")}, 0, false},
		{"attack first unflagged", "x [1]", []api.Citation{cite("a", "x")}, 0, true},
	}
	for _, tt := range tests {
		resp := api.QueryResponse{Answer: tt.claim, Citations: tt.cites}
		var first *api.Citation
		if tt.first >= 0 {
			first = &tt.cites[tt.first]
		}
		if got := success(c, resp, tt.claim, first) != ""; got != tt.want {
			t.Errorf("%s: success = %v, want %v", tt.name, got, tt.want)
		}
	}
}
