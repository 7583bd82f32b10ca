package statuspage

import (
	"strings"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/api"
)

func TestFleetSection(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	st := api.Status{Node: "e1", Ready: true, StartedAt: now.Add(-time.Hour), Fleet: []api.FleetMember{
		{Name: "e1", Status: "alive", Self: true, Shards: []string{"pumps@3"}},
		{Name: "e2", Status: "suspect", Shards: []string{}},
	}}
	var b strings.Builder
	if err := tmpl.Execute(&b, build(st, now)); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{"<td>e1 (this node)</td><td>alive</td><td>pumps@3</td>", "<td>e2</td><td>suspect</td><td>—</td>"} {
		if !strings.Contains(page, want) {
			t.Errorf("fleet section lacks %q", want)
		}
	}
	if strings.Contains(page, "membership not configured") {
		t.Error("page says membership is off while it lists members")
	}
}
