package agent

import (
	"context"
	"slices"
	"strings"

	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/sync/fleet"
)

// sharedStatePrefixes are central's fleet-sync keys that every replica must
// see alike: edge reports ("a/"), rollout stages ("o/"), the edges seen
// polling ("k/NODE", from which canaries are chosen) and the model manifest
// published last with its version ("k/latest", "k/version"), so every
// replica serves the same models, and each shard's probe set ("q/"), so
// every replica gates rollouts on the same questions. With a publisher
// lease they live in etcd beside it.
var sharedStatePrefixes = []string{"a/", "o/", "k/", "q/"}

// localModelKeys share "k/" with the edges seen but are a node's own: the
// model manifest an edge applied.
var localModelKeys = []string{"k/applied"}

func sharedState(key string) bool {
	if slices.Contains(localModelKeys, key) {
		return false
	}
	for _, p := range sharedStatePrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// splitKV keeps the shared-state keys in shared and the rest in local.
type splitKV struct {
	shared, local fleet.KV
}

func (s splitKV) pick(key string) fleet.KV {
	if sharedState(key) {
		return s.shared
	}
	return s.local
}

func (s splitKV) Get(key string) ([]byte, error) { return s.pick(key).Get(key) }

func (s splitKV) GetMany(keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	for _, kv := range []fleet.KV{s.shared, s.local} {
		var ks []string
		var at []int
		for i, k := range keys {
			if s.pick(k) == kv {
				ks, at = append(ks, k), append(at, i)
			}
		}
		if len(ks) == 0 {
			continue
		}
		vals, err := kv.GetMany(ks)
		if err != nil {
			return nil, err
		}
		for j, v := range vals {
			out[at[j]] = v
		}
	}
	return out, nil
}

// Update writes the shared keys first: a report or rollout stage is
// never behind the local writes that go with it.
func (s splitKV) Update(ctx context.Context, sets []shard.KV, deletes []string) error {
	var ss, ls []shard.KV
	var sd, ld []string
	for _, kv := range sets {
		if sharedState(kv.Key) {
			ss = append(ss, kv)
		} else {
			ls = append(ls, kv)
		}
	}
	for _, k := range deletes {
		if sharedState(k) {
			sd = append(sd, k)
		} else {
			ld = append(ld, k)
		}
	}
	if len(ss)+len(sd) > 0 {
		if err := s.shared.Update(ctx, ss, sd); err != nil {
			return err
		}
	}
	if len(ls)+len(ld) > 0 {
		return s.local.Update(ctx, ls, ld)
	}
	return nil
}

func (s splitKV) Scan(ctx context.Context, prefix string, keysOnly bool, fn func(key string, value []byte) error) error {
	return s.pick(prefix).Scan(ctx, prefix, keysOnly, fn)
}
