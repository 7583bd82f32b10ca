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

func TestRecalibrationLine(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		r    *api.Recalibration
		want []string // in the page and the text
		none bool
	}{
		{"node that does not learn", nil, nil, true},
		{"nothing learned yet", &api.Recalibration{Scale: 1, Threshold: 0.5, Target: 0.5}, []string{"below confidence 0.50, as fitted"}, false},
		{"learned", &api.Recalibration{Scale: 1.3, Offset: 1.1, Threshold: 0.214, Target: 0.5, Labels: 120, Window: 120, Agreed: 0.64},
			[]string{"below model confidence 0.214", "escalate-below 0.50", "recalibrated from 120 of central", "64% of the last 120 settled"}, false},
	} {
		st := api.Status{Node: "e1", Ready: true, StartedAt: now.Add(-time.Hour), Central: "closed", Recalibration: tc.r}
		var page, text strings.Builder
		if err := tmpl.Execute(&page, build(st, now)); err != nil {
			t.Fatal(err)
		}
		if err := WriteText(&text, st, now); err != nil {
			t.Fatal(err)
		}
		for _, out := range []string{page.String(), text.String()} {
			if tc.none && strings.Contains(out, "Escalates") || tc.none && strings.Contains(out, "escalates") {
				t.Errorf("%s: shows an escalation line", tc.name)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("%s: lacks %q:\n%s", tc.name, w, out)
				}
			}
		}
	}
}
