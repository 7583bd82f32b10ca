// Package lease makes one central replica the publisher: the replica holds
// a key in etcd under a lease it keeps alive, and only the holder cuts
// versions and moves rollouts. A holder that dies (even with kill -9) stops
// renewing, the lease expires after its TTL, etcd deletes the key, and
// another replica takes it. State keeps central's shared fleet-sync state
// (edge reports, rollout stages) in the same etcd, so every replica sees
// it alike. Member keeps each replica's membership key under a lease of its
// own, so the live replica set, from which sync/assign places shards, is
// what etcd lists.
//
// It speaks etcd's v3 JSON gateway (/v3/lease/grant, /v3/lease/keepalive,
// /v3/kv/txn, /v3/kv/range, /v3/kv/put, /v3/lease/revoke) with the standard
// library: those calls are all it needs, and etcd's gRPC client would bring
// grpc and protobuf for them.
//
// A replica trusts its lease only until the time its last renewal was sent
// plus the TTL, less a margin: after that another replica may hold it, so
// Check refuses even before the replica learns it lost the key.
package lease

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultTTL is the lease's time to live: how long the fleet may go
// without a publisher after the holder dies.
const DefaultTTL = 10 * time.Second

// ErrNotHolder reports a publish on a replica that does not hold the lease.
var ErrNotHolder = errors.New("this replica does not hold the publisher lease")

// Config says where the lease lives.
type Config struct {
	// URL is etcd://host:port[,host:port…]/prefix, as --sync-lease takes
	// it; the key is prefix + "/publisher".
	URL string
	// Name identifies this replica to the others (its node name and
	// address, say); it is the value of the key while it holds it.
	Name   string
	TTL    time.Duration // 0: DefaultTTL; at least 2 s
	Now    func() time.Time
	Logger *slog.Logger
	HTTP   *http.Client
}

// Lease campaigns for and holds the publisher key. Run it; ask Check.
type Lease struct {
	cfg       Config
	endpoints []string
	key       string

	mu         sync.Mutex
	id         string    // the etcd lease held; "" when none
	validUntil time.Time // the lease is ours until then at least
	holder     string    // who holds the key, as last seen
}

// ParseURL splits etcd://host:port,host:port/prefix into the endpoints'
// base URLs and the key.
func ParseURL(raw string) (endpoints []string, key string, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "etcd" || u.Host == "" {
		return nil, "", fmt.Errorf("--sync-lease %q: want etcd://host:port[,host:port]/prefix", raw)
	}
	for h := range strings.SplitSeq(u.Host, ",") {
		if h = strings.TrimSpace(h); h != "" {
			endpoints = append(endpoints, "http://"+h)
		}
	}
	prefix := strings.Trim(u.Path, "/")
	if prefix == "" {
		prefix = "edgerag"
	}
	return endpoints, prefix + "/publisher", nil
}

// New checks cfg; it does no I/O.
func New(cfg Config) (*Lease, error) {
	endpoints, key, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		return nil, errors.New("lease: Config.Name is empty; name the replica")
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.TTL < 2*time.Second {
		return nil, fmt.Errorf("--sync-lease-ttl %s: use 2s or more (etcd counts in seconds)", cfg.TTL)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: cfg.TTL / 3}
	}
	return &Lease{cfg: cfg, endpoints: endpoints, key: key}, nil
}

// Check returns nil while this replica holds the lease, else an error
// wrapping ErrNotHolder that names the holder.
func (l *Lease) Check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.id != "" && l.cfg.Now().Before(l.validUntil) {
		return nil
	}
	if l.holder != "" && l.holder != l.cfg.Name {
		return fmt.Errorf("%w: %s holds it; publish there (if it died, this replica takes over within %s)", ErrNotHolder, l.holder, l.cfg.TTL)
	}
	return fmt.Errorf("%w: no replica holds it yet, or etcd cannot be reached; retry in a few seconds", ErrNotHolder)
}

// Holder returns the replica that holds the lease as last seen ("": none
// known).
func (l *Lease) Holder() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.holder
}

// Run campaigns until ctx ends, then gives the lease up so another
// replica need not wait for it to expire.
func (l *Lease) Run(ctx context.Context) {
	tick := l.cfg.TTL / 3
	for {
		if err := l.step(ctx); err != nil && ctx.Err() == nil {
			l.cfg.Logger.Warn("publisher lease", "err", err)
		}
		select {
		case <-ctx.Done():
			l.release()
			return
		case <-time.After(tick):
		}
	}
}

// step renews the lease held, or tries to take the key.
func (l *Lease) step(ctx context.Context) error {
	l.mu.Lock()
	id := l.id
	l.mu.Unlock()
	if id != "" {
		sent := l.cfg.Now()
		ttl, err := l.keepAlive(ctx, id)
		if err == nil && ttl > 0 {
			l.mu.Lock()
			l.validUntil = sent.Add(time.Duration(ttl)*time.Second - l.cfg.TTL/3)
			l.mu.Unlock()
			return nil
		}
		l.mu.Lock()
		lost := err == nil || l.cfg.Now().After(l.validUntil)
		if lost {
			l.id, l.validUntil = "", time.Time{}
			l.cfg.Logger.Warn("publisher lease lost", "err", err)
		}
		l.mu.Unlock()
		if !lost {
			return err // etcd unreachable for a moment: retry before it expires
		}
	}
	sent := l.cfg.Now()
	newID, ttl, err := l.grant(ctx)
	if err != nil {
		return err
	}
	won, holder, err := l.take(ctx, newID)
	if err != nil || !won {
		_ = l.revoke(context.WithoutCancel(ctx), newID)
		if err == nil {
			l.mu.Lock()
			l.holder = holder
			l.mu.Unlock()
		}
		return err
	}
	l.mu.Lock()
	l.id, l.holder = newID, l.cfg.Name
	l.validUntil = sent.Add(time.Duration(ttl)*time.Second - l.cfg.TTL/3)
	l.mu.Unlock()
	l.cfg.Logger.Info("publisher lease taken: this replica publishes", "key", l.key, "ttl", l.cfg.TTL)
	return nil
}

func (l *Lease) release() {
	l.mu.Lock()
	id := l.id
	l.id, l.validUntil = "", time.Time{}
	l.mu.Unlock()
	if id != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = l.revoke(ctx, id)
	}
}

func (l *Lease) grant(ctx context.Context) (id string, ttl int64, err error) {
	var out struct {
		ID    string `json:"ID"`
		TTL   string `json:"TTL"`
		Error string `json:"error"`
	}
	if err := l.call(ctx, "/v3/lease/grant", map[string]any{"TTL": int64(l.cfg.TTL / time.Second)}, &out); err != nil {
		return "", 0, err
	}
	ttl, _ = strconv.ParseInt(out.TTL, 10, 64)
	if out.ID == "" || ttl <= 0 {
		return "", 0, fmt.Errorf("lease: etcd granted no lease (%s)", out.Error)
	}
	return out.ID, ttl, nil
}

// keepAlive renews lease id; a TTL of 0 means etcd no longer knows it.
func (l *Lease) keepAlive(ctx context.Context, id string) (int64, error) {
	var out struct {
		Result struct {
			TTL string `json:"TTL"`
		} `json:"result"`
	}
	if err := l.call(ctx, "/v3/lease/keepalive", map[string]any{"ID": id}, &out); err != nil {
		return 0, err
	}
	ttl, _ := strconv.ParseInt(out.Result.TTL, 10, 64)
	return ttl, nil
}

func (l *Lease) revoke(ctx context.Context, id string) error {
	return l.call(ctx, "/v3/lease/revoke", map[string]any{"ID": id}, nil)
}

// take creates the key under lease id if no one holds it, in one
// transaction; otherwise it reports who does.
func (l *Lease) take(ctx context.Context, id string) (won bool, holder string, err error) {
	key := base64.StdEncoding.EncodeToString([]byte(l.key))
	txn := map[string]any{
		"compare": []any{map[string]any{"key": key, "target": "CREATE", "create_revision": "0"}},
		"success": []any{map[string]any{"request_put": map[string]any{"key": key, "value": base64.StdEncoding.EncodeToString([]byte(l.cfg.Name)), "lease": id}}},
		"failure": []any{map[string]any{"request_range": map[string]any{"key": key}}},
	}
	var out struct {
		Succeeded bool `json:"succeeded"`
		Responses []struct {
			Range struct {
				KVs []struct {
					Value []byte `json:"value"` // base64 in JSON: decoded by encoding/json
				} `json:"kvs"`
			} `json:"response_range"`
		} `json:"responses"`
	}
	if err := l.call(ctx, "/v3/kv/txn", txn, &out); err != nil {
		return false, "", err
	}
	if out.Succeeded {
		return true, l.cfg.Name, nil
	}
	for _, r := range out.Responses {
		for _, kv := range r.Range.KVs {
			return false, string(kv.Value), nil
		}
	}
	return false, "", nil // expired between compare and range: try again next tick
}

// call posts one JSON request to the first endpoint that answers.
func (l *Lease) call(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	var errs []error
	for _, ep := range l.endpoints {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := l.cfg.HTTP.Do(req)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if resp.StatusCode != http.StatusOK {
			errs = append(errs, fmt.Errorf("%s%s: HTTP %d: %s", ep, path, resp.StatusCode, strings.TrimSpace(string(b))))
			continue
		}
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("lease: %s%s answered %q: %w", ep, path, b, err)
		}
		return nil
	}
	return fmt.Errorf("lease: no etcd endpoint answered %s: %w", path, errors.Join(errs...))
}
