package lease

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Member keeps a central replica's membership key in etcd under a lease of
// its own: the key lives while the replica renews it, so a replica killed
// with kill -9 drops out of the set within the TTL and the others take
// over its shards. The key's value is what the replica advertises (its
// address and the shards it serves), set with Advertise.
//
// It is separate from the publisher lease: every replica is a member,
// one at a time publishes.
type Member struct {
	l   *Lease
	key string

	mu    sync.Mutex
	id    string // etcd lease of the key; "" until granted
	value []byte
	dirty bool // value changed since it was last written
}

// Replica is one live member as read from etcd.
type Replica struct {
	Name  string
	Value []byte
}

// Member returns this replica's membership under the lease's prefix.
func (l *Lease) Member() *Member {
	return &Member{l: l, key: l.membersPrefix() + l.cfg.Name}
}

func (l *Lease) membersPrefix() string {
	return strings.TrimSuffix(l.key, "publisher") + "members/"
}

// Advertise sets the key's value; Run writes it at its next step, or
// Flush at once.
func (m *Member) Advertise(value []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if string(value) != string(m.value) {
		m.value, m.dirty = append([]byte(nil), value...), true
	}
}

// Run keeps the key alive until ctx ends, then deletes it so the others
// need not wait for the TTL. every is how often it renews and rewrites a
// changed value (0: a third of the TTL).
func (m *Member) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = m.l.cfg.TTL / 3
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := m.Flush(ctx); err != nil && ctx.Err() == nil {
			m.l.cfg.Logger.Warn("replica membership", "err", err)
		}
		select {
		case <-ctx.Done():
			m.leave()
			return
		case <-t.C:
		}
	}
}

// Flush renews the key's lease (granting a new one if etcd forgot it)
// and writes the value if it changed.
func (m *Member) Flush(ctx context.Context) error {
	m.mu.Lock()
	id, value, dirty := m.id, m.value, m.dirty
	m.mu.Unlock()
	if id != "" {
		ttl, err := m.l.keepAlive(ctx, id)
		if err != nil {
			return err
		}
		if ttl == 0 { // expired (etcd unreachable too long): start over
			id, dirty = "", true
		}
	}
	if id == "" {
		var err error
		if id, _, err = m.l.grant(ctx); err != nil {
			return err
		}
		dirty = true
	}
	if dirty {
		put := map[string]any{"key": b64(m.key), "value": base64.StdEncoding.EncodeToString(value), "lease": id}
		if err := m.l.call(ctx, "/v3/kv/put", put, nil); err != nil {
			return fmt.Errorf("write membership key: %w", err)
		}
	}
	m.mu.Lock()
	m.id = id
	if string(m.value) == string(value) {
		m.dirty = false
	}
	m.mu.Unlock()
	return nil
}

func (m *Member) leave() {
	m.mu.Lock()
	id := m.id
	m.id = ""
	m.mu.Unlock()
	if id != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = m.l.revoke(ctx, id) // deletes the key with its lease
	}
}

// Members lists the live replicas (those whose key has not expired), by
// name, with the revision of etcd they were read at: a later read with a
// higher revision is the newer view.
func (l *Lease) Members(ctx context.Context) ([]Replica, int64, error) {
	prefix := l.membersPrefix()
	var out struct {
		Header struct {
			Revision string `json:"revision"`
		} `json:"header"`
		rangeResponse
	}
	req := map[string]any{"key": b64(prefix), "range_end": b64(prefixEnd(prefix)), "sort_order": "ASCEND", "sort_target": "KEY"}
	if err := l.call(ctx, "/v3/kv/range", req, &out); err != nil {
		return nil, 0, err
	}
	rev, _ := strconv.ParseInt(out.Header.Revision, 10, 64)
	rs := make([]Replica, 0, len(out.KVs))
	for _, kv := range out.KVs {
		rs = append(rs, Replica{Name: strings.TrimPrefix(string(kv.Key), prefix), Value: kv.Value})
	}
	return rs, rev, nil
}

// Name is the name this replica campaigns and registers under.
func (l *Lease) Name() string { return l.cfg.Name }
