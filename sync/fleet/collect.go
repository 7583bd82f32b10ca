package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/edgerag/edgerag/sync/manifest"
)

// DefaultKeepVersions is how many of a shard's newest versions Collect
// keeps whatever edges reported: the latest, and the one before it, which
// edges that have not synced yet still run and may still be fetching.
const DefaultKeepVersions = 2

// Collected is what Collect removed and kept.
type Collected struct {
	Manifests int       `json:"manifests"` // shard versions deleted
	Records   int       `json:"records"`   // chunk records deleted
	Pages     int       `json:"pages"`     // manifest pages deleted
	Kept      []Version `json:"kept"`      // versions kept, per shard
}

// Collect deletes the shard versions no edge can still need, and the
// records only they listed. A version is kept when it is one of the shard's
// keep newest (0: DefaultKeepVersions), when a staged rollout goes from or
// to it, or when an edge last reported it — unless it lies below the
// latest version's floor (min_version), which no edge may roll back to.
// The latest is always kept.
//
// Run it on the replica that publishes: it holds the publish lock, so no
// version of its own is half written while it looks; a version another
// replica is writing at that moment is not protected.
func (p *Publisher) Collect(ctx context.Context, keep int) (Collected, error) {
	if keep <= 0 {
		keep = DefaultKeepVersions
	}
	if err := p.mayPublish(); err != nil {
		return Collected{}, err
	}
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	var out Collected
	latest, err := p.Versions(ctx)
	if err != nil {
		return out, err
	}
	reported, err := p.reportedVersions(ctx)
	if err != nil {
		return out, err
	}
	keepRecords := make(map[string]bool)
	pageOf := make(map[string]bool) // manifest pages of the versions dropped
	var drop []string
	for _, l := range latest {
		top, err := p.manifest(l.Shard, l.Version)
		if err != nil {
			return out, fmt.Errorf("collect: latest manifest of %q: %w", l.Shard, err)
		}
		wanted := map[uint64]bool{l.Version: true}
		for _, v := range reported[l.Shard] {
			wanted[v] = true
		}
		if st, ok, err := p.rolloutState(l.Shard); err != nil {
			return out, err
		} else if ok {
			wanted[st.From], wanted[st.To] = true, true
		}
		var versions []uint64
		err = p.cfg.KV.Scan(ctx, "m/"+l.Shard+"/", true, func(k string, _ []byte) error {
			v, err := strconv.ParseUint(strings.TrimPrefix(k, "m/"+l.Shard+"/"), 10, 64)
			if err != nil {
				return fmt.Errorf("collect: manifest key %q: %w", k, err)
			}
			versions = append(versions, v)
			return nil
		})
		if err != nil {
			return out, err
		}
		slices.Sort(versions)
		for i, v := range versions {
			newest := i >= len(versions)-keep
			if v == l.Version || wanted[v] || (newest && v >= top.MinVersion) {
				env, err := p.cfg.KV.Get(manifestKey(l.Shard, v))
				if err != nil {
					return out, fmt.Errorf("collect: manifest %d of %q: %w", v, l.Shard, err)
				}
				m, r, err := loadShard(ctx, p.cfg.KV, env)
				if err != nil {
					return out, fmt.Errorf("collect: manifest %d of %q: %w", v, l.Shard, err)
				}
				for _, c := range m.Chunks {
					keepRecords[recordKey(c.Hash)] = true
				}
				for _, k := range pageKeys(&r) {
					keepRecords[k] = true
				}
				out.Kept = append(out.Kept, Version{Shard: l.Shard, Version: v, MinVersion: m.MinVersion})
				continue
			}
			drop = append(drop, manifestKey(l.Shard, v))
			p.markPages(manifestKey(l.Shard, v), pageOf)
		}
	}
	// Manifests go first: a version is never listed without its records.
	if err := p.deleteKeys(ctx, drop); err != nil {
		return out, err
	}
	out.Manifests = len(drop)
	drop = drop[:0]
	err = p.cfg.KV.Scan(ctx, "r/", true, func(k string, _ []byte) error {
		if !keepRecords[k] {
			drop = append(drop, k)
			if pageOf[k] {
				out.Pages++
			}
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	if err := p.deleteKeys(ctx, drop); err != nil {
		return out, err
	}
	out.Records = len(drop) - out.Pages
	p.log.Info("fleet sync: collected old versions", "manifests", out.Manifests, "records", out.Records, "kept", len(out.Kept))
	return out, nil
}

// markPages marks the manifest pages of the stored version at key, so
// Collect counts them apart from records; best effort, only a count.
func (p *Publisher) markPages(key string, pageOf map[string]bool) {
	env, err := p.cfg.KV.Get(key)
	if err != nil {
		return
	}
	if r, err := manifest.ReadRoot(env); err == nil {
		for _, k := range pageKeys(&r) {
			pageOf[k] = true
		}
	}
}

// reportedVersions returns, per shard, the versions edges last reported.
func (p *Publisher) reportedVersions(ctx context.Context) (map[string][]uint64, error) {
	out := make(map[string][]uint64)
	err := p.cfg.KV.Scan(ctx, "a/", false, func(_ string, v []byte) error {
		var a Ack
		if err := json.Unmarshal(v, &a); err != nil {
			return fmt.Errorf("collect: edge report: %w", err)
		}
		out[a.Shard] = append(out[a.Shard], a.Version)
		return nil
	})
	return out, err
}

func (p *Publisher) deleteKeys(ctx context.Context, keys []string) error {
	for len(keys) > 0 {
		n := min(len(keys), 4096)
		if err := p.cfg.KV.Update(ctx, nil, keys[:n]); err != nil {
			return fmt.Errorf("collect: delete: %w", err)
		}
		keys = keys[n:]
	}
	return nil
}
