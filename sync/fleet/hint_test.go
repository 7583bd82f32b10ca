package fleet_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/edgerag/edgerag/node/nodetest"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/fleet/fleetnode"
)

func TestParseHint(t *testing.T) {
	for _, tc := range []struct {
		name, payload string
		want          fleet.Hint
		err           string
	}{
		{"sync:manuals", "7", fleet.Hint{Shard: "manuals", Version: 7}, ""},
		{"sync-config", "12", fleet.Hint{Config: true, Version: 12}, ""},
		{"sync-models", "3", fleet.Hint{Models: true, Version: 3}, ""},
		{"sync:a.b_c-9", "18446744073709551615", fleet.Hint{Shard: "a.b_c-9", Version: 1<<64 - 1}, ""},
		{"keys-rotated", "1", fleet.Hint{}, "not a sync hint"},
		{"sync:", "1", fleet.Hint{}, "must be 1 to"},
		{"sync:Manuals", "1", fleet.Hint{}, "lower-case"},
		{"sync:manuals", "", fleet.Hint{}, "not a version"},
		{"sync:manuals", "0", fleet.Hint{}, "not a version"},
		{"sync:manuals", "07", fleet.Hint{}, "not a version"},
		{"sync:manuals", "-1", fleet.Hint{}, "not a version"},
		{"sync:manuals", "7 ", fleet.Hint{}, "not a version"},
		{"sync:manuals", "18446744073709551616", fleet.Hint{}, "not a version"},
		{"sync-config", "x", fleet.Hint{}, "not a version"},
	} {
		got, err := fleet.ParseHint(tc.name, []byte(tc.payload))
		if tc.err == "" {
			if err != nil || got != tc.want {
				t.Errorf("ParseHint(%q, %q) = %+v, %v; want %+v", tc.name, tc.payload, got, err, tc.want)
			}
			name, payload := fleet.EncodeHint(got)
			if name != tc.name || string(payload) != tc.payload {
				t.Errorf("EncodeHint(%+v) = %q, %q; want %q, %q", got, name, payload, tc.name, tc.payload)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParseHint(%q, %q) = %+v, %v; want an error with %q", tc.name, tc.payload, got, err, tc.err)
		}
	}
	if _, err := fleet.ParseHint("other", nil); !errors.Is(err, fleet.ErrNotHint) {
		t.Errorf("another feature's event: %v, want ErrNotHint", err)
	}
}

func FuzzParseHint(f *testing.F) {
	f.Add("sync:manuals", []byte("7"))
	f.Add("sync-config", []byte("1"))
	f.Add("sync-models", []byte("2"))
	f.Add("sync:x", []byte("00"))
	f.Fuzz(func(t *testing.T, name string, payload []byte) {
		h, err := fleet.ParseHint(name, payload)
		if err != nil {
			return
		}
		n, p := fleet.EncodeHint(h)
		if n != name || string(p) != string(payload) || h.Version == 0 {
			t.Fatalf("ParseHint(%q, %q) = %+v, which encodes as %q, %q", name, payload, h, n, p)
		}
	})
}

// TestHints checks what hints do to an edge over real QUIC: a version it
// learns from central is announced once; a hint for a newer version nudges
// it and a hint for a version it holds (old, replayed or forged) does not;
// a version it heard of in a hint is not announced again.
func TestHints(t *testing.T) {
	ctx := context.Background()
	p := nodetest.StartFleet(t)
	c := startCentral(t, p)
	c.ingest(t, rangeInts(0, 5), "blue")
	v1 := c.publish(t)
	e := startEdge(t, p, c, "edge-hint")
	var learned []fleet.Hint
	s, err := fleet.NewSyncer(fleet.SyncerConfig{
		Client: e.client, Central: c.addr, CentralName: "central", Trusted: []ed25519.PublicKey{e.trusted},
		Target: fleetnode.Target(e.n), StageDir: e.stageDir, OnLearn: func(h fleet.Hint) { learned = append(learned, h) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Hint(fleet.Hint{Shard: shardName, Version: v1.Version}) {
		t.Fatal("a hint of a version not yet applied did not nudge")
	}
	if err := s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if len(learned) != 0 {
		t.Fatalf("a version heard of in a hint was announced again: %+v", learned)
	}
	for _, h := range []fleet.Hint{{Shard: shardName, Version: v1.Version}, {Shard: shardName, Version: 1}, {Shard: "other-shard", Version: 0}, {Config: true, Version: 9}} {
		if s.Hint(h) {
			t.Errorf("hint %+v nudged an edge that applied version %d (and follows no config)", h, v1.Version)
		}
	}
	c.ingest(t, []int{1}, "orange")
	v2 := c.publish(t)
	for range 2 {
		if err := s.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(learned) != 1 || learned[0] != (fleet.Hint{Shard: shardName, Version: v2.Version}) {
		t.Fatalf("announced %+v, want version %d once", learned, v2.Version)
	}
}
