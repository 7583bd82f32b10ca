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

func TestSyncSection(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	st := api.Status{Node: "e1", Ready: true, Sync: []api.SyncShard{
		{Shard: "pumps", Applied: 7, Previous: 6, Target: 8, State: "fetching", Progress: 0.42, AppliedAt: now.Add(-90 * time.Minute)},
		{Shard: "faq", Applied: 2, State: "error", LastError: "manifest signature does not verify"},
	}}
	var b strings.Builder
	if err := tmpl.Execute(&b, build(st, now)); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{
		// Sorted by shard; a failing shard says why.
		`<tr><td>faq</td><td class="num">2</td><td class="bad">error<br><small>manifest signature does not verify</small></td><td>—</td></tr>`,
		// A version on its way shows where it is going and how far it got.
		`<td class="num">7 <small class="muted">(rollback: 6)</small></td><td class="warn">fetching → 8 <span class="bar warn"><span style="width:42%"></span></span> 42%</td><td>1h 30m ago</td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("sync section lacks %q", want)
		}
	}
	if strings.Index(page, "<td>faq</td>") > strings.Index(page, "<td>pumps</td>") {
		t.Error("sync rows not sorted by shard")
	}
	if strings.Contains(page, "fleet sync not configured") {
		t.Error("page says sync is off while it lists shards")
	}
}
