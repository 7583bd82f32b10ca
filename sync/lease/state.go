package lease

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/edgerag/edgerag/node/shard"
)

// maxTxnOps is etcd's default limit of operations in one transaction.
const maxTxnOps = 128

// State is a key space in etcd beside the lease: central's shared state
// (edge reports, rollout stages), which every replica then reads and
// writes alike. Its methods are fleet.KV's.
type State struct {
	l      *Lease
	prefix string // etcd key prefix, ending in "/"
}

// State returns the key space under the lease's prefix.
func (l *Lease) State() *State {
	return &State{l: l, prefix: strings.TrimSuffix(l.key, "publisher") + "state/"}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// prefixEnd is the first key after every key that starts with p, as
// etcd's range_end wants it.
func prefixEnd(p string) string {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return "\x00"
}

type rangeResponse struct {
	KVs []struct {
		Key   []byte `json:"key"`
		Value []byte `json:"value"`
	} `json:"kvs"`
}

func (s *State) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), max(s.l.cfg.TTL, 5*time.Second))
}

// Get returns the value at key, shard.ErrNotFound when there is none.
func (s *State) Get(key string) ([]byte, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var out rangeResponse
	if err := s.l.call(ctx, "/v3/kv/range", map[string]any{"key": b64(s.prefix + key)}, &out); err != nil {
		return nil, err
	}
	if len(out.KVs) == 0 {
		return nil, fmt.Errorf("%w: %s in etcd", shard.ErrNotFound, key)
	}
	return out.KVs[0].Value, nil
}

// GetMany returns the values at keys, nil for absent ones.
func (s *State) GetMany(keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		v, err := s.Get(k)
		if err != nil && !errors.Is(err, shard.ErrNotFound) {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// Update writes sets and removes deletes in one transaction (in several
// when they are more than etcd allows in one).
func (s *State) Update(ctx context.Context, sets []shard.KV, deletes []string) error {
	var ops []any
	for _, kv := range sets {
		ops = append(ops, map[string]any{"request_put": map[string]any{"key": b64(s.prefix + kv.Key), "value": base64.StdEncoding.EncodeToString(kv.Value)}})
	}
	for _, k := range deletes {
		ops = append(ops, map[string]any{"request_delete_range": map[string]any{"key": b64(s.prefix + k)}})
	}
	for len(ops) > 0 {
		n := min(len(ops), maxTxnOps)
		if err := s.l.call(ctx, "/v3/kv/txn", map[string]any{"success": ops[:n]}, nil); err != nil {
			return err
		}
		ops = ops[n:]
	}
	return nil
}

// Scan calls fn for every key under prefix, in key order.
func (s *State) Scan(ctx context.Context, prefix string, keysOnly bool, fn func(key string, value []byte) error) error {
	full := s.prefix + prefix
	var out rangeResponse
	req := map[string]any{"key": b64(full), "range_end": b64(prefixEnd(full)), "sort_order": "ASCEND", "sort_target": "KEY", "keys_only": keysOnly}
	if err := s.l.call(ctx, "/v3/kv/range", req, &out); err != nil {
		return err
	}
	for _, kv := range out.KVs {
		if err := fn(string(bytes.TrimPrefix(kv.Key, []byte(s.prefix))), kv.Value); err != nil {
			return err
		}
	}
	return nil
}
