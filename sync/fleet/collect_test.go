package fleet_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/edgerag/edgerag/node/nodetest"
	"github.com/edgerag/edgerag/sync/fleet"
)

// TestCollectKeepsWhatEdgesNeed publishes four versions with an edge left
// at the first, collects, and checks what stays: the newest two, the one
// the edge runs, and every record they list; an edge still syncs the
// latest from what is left, and the lagging one moves up to it.
func TestCollectKeepsWhatEdgesNeed(t *testing.T) {
	ctx := context.Background()
	p := nodetest.StartFleet(t)
	c := startCentral(t, p)
	c.ingest(t, rangeInts(0, 20), "blue")
	v1 := c.publish(t)
	lagging := startEdge(t, p, c, "edge-lagging")
	if err := lagging.s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	var versions []fleet.Published
	for _, tag := range []string{"green", "red", "amber"} {
		c.ingest(t, rangeInts(0, 5), tag) // 5 of 20 documents change each time
		versions = append(versions, c.publish(t))
	}
	v2, v3, v4 := versions[0], versions[1], versions[2]

	got, err := c.pub.Collect(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got.Manifests != 1 {
		t.Errorf("collected %d manifests, want 1 (version %d: neither newest nor run by an edge)", got.Manifests, v2.Version)
	}
	kept := map[uint64]bool{}
	for _, k := range got.Kept {
		kept[k.Version] = true
	}
	if !kept[v1.Version] || kept[v2.Version] || !kept[v3.Version] || !kept[v4.Version] {
		t.Errorf("kept %v; want versions %d (an edge runs it), %d and %d (newest)", got.Kept, v1.Version, v3.Version, v4.Version)
	}
	// v2's five green chunks were listed by no other version.
	if got.Records != 5 {
		t.Errorf("collected %d records, want the 5 only version %d listed", got.Records, v2.Version)
	}
	if again, err := c.pub.Collect(ctx, 2); err != nil || again.Manifests != 0 || again.Records != 0 {
		t.Errorf("a second collect removed %+v, %v; want nothing", again, err)
	}

	fresh := startEdge(t, p, c, "edge-fresh")
	for _, e := range []*edge{fresh, lagging} {
		if err := e.s.SyncOnce(ctx); err != nil {
			t.Fatalf("sync after collect: %v", err)
		}
		if st := e.status(); st.Applied != v4.Version || st.LastError != "" {
			t.Errorf("%s after collect: %+v, want version %d", e.n.Name(), st, v4.Version)
		}
		if n := len(e.sees("amber")); n != 5 {
			t.Errorf("the edge finds 'amber' in %d documents, want 5", n)
		}
	}
	// The floor: versions below the latest's min_version go, newest or not.
	c.ingest(t, rangeInts(0, 1), "violet")
	v5, err := c.pub.Publish(ctx, shardName, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.ingest(t, rangeInts(0, 1), "indigo")
	v6, err := c.pub.Publish(ctx, shardName, v5.Version+1)
	if err != nil {
		t.Fatal(err)
	}
	got, err = c.pub.Collect(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, k := range got.Kept {
		left = append(left, k.Shard+"@"+strconv.FormatUint(k.Version, 10))
	}
	if len(got.Kept) != 2 || got.Kept[1].Version != v6.Version {
		t.Errorf("kept %v after a publish with min_version %d; want the version the edges run (%d) and the latest (%d)", left, v6.MinVersion, v4.Version, v6.Version)
	}
}
