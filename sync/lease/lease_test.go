package lease_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/sync/lease"
	"github.com/edgerag/edgerag/sync/lease/etcdtest"
)

func TestParseURL(t *testing.T) {
	eps, key, err := lease.ParseURL("etcd://10.0.0.1:2379,10.0.0.2:2379/fleet/prod")
	if err != nil || len(eps) != 2 || eps[1] != "http://10.0.0.2:2379" || key != "fleet/prod/publisher" {
		t.Errorf("ParseURL = %v %q %v", eps, key, err)
	}
	for _, bad := range []string{"", "http://h:1/x", "etcd:///x"} {
		if _, _, err := lease.ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) accepted", bad)
		}
	}
	if _, err := lease.New(lease.Config{URL: "etcd://h:1/x", Name: "a", TTL: time.Second}); err == nil {
		t.Error("a TTL under 2 s was accepted")
	}
}

func waitFor(t *testing.T, what string, within time.Duration, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// TestOneHolderAndTakeover runs two replicas' leases against a real etcd:
// one holds, the other is refused naming it; when the holder stops
// renewing (as a killed process does), the other takes over within the
// TTL; a holder that stops cleanly hands over at once.
func TestOneHolderAndTakeover(t *testing.T) {
	s := etcdtest.Start(t)
	newLease := func(name string) (*lease.Lease, context.CancelFunc, chan struct{}) {
		l, err := lease.New(lease.Config{URL: s.URL("test"), Name: name, TTL: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); l.Run(ctx) }()
		return l, cancel, done
	}
	a, stopA, doneA := newLease("central-a")
	waitFor(t, "a takes the lease", 5*time.Second, func() bool { return a.Check() == nil })
	b, stopB, doneB := newLease("central-b")
	defer func() { stopB(); <-doneB }()
	waitFor(t, "b learns who holds it", 5*time.Second, func() bool { return b.Holder() == "central-a" })
	if err := b.Check(); !errors.Is(err, lease.ErrNotHolder) || !strings.Contains(err.Error(), "central-a") {
		t.Fatalf("b.Check() = %v; want ErrNotHolder naming central-a", err)
	}

	// A clean stop revokes: b takes over at its next try (TTL/3).
	stopA()
	<-doneA
	took := waitFor(t, "b takes over after a clean stop", 3*time.Second, func() bool { return b.Check() == nil })
	t.Logf("takeover after a clean stop: %v", took)
	if err := a.Check(); err == nil {
		t.Error("a still believes it holds the lease after stopping")
	}
}

func TestStateInEtcd(t *testing.T) {
	s := etcdtest.Start(t)
	l, err := lease.New(lease.Config{URL: s.URL("test"), Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	st := l.State()
	ctx := context.Background()
	if _, err := st.Get("a/manuals/edge-1"); !errors.Is(err, shard.ErrNotFound) {
		t.Fatalf("Get of a missing key: %v", err)
	}
	err = st.Update(ctx, []shard.KV{{Key: "a/manuals/edge-1", Value: []byte(`{"v":1}`)}, {Key: "a/manuals/edge-2", Value: []byte(`{"v":2}`)},
		{Key: "a/manualsx/edge-1", Value: []byte("other shard")}, {Key: "o/manuals", Value: []byte("canary")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := st.Scan(ctx, "a/manuals/", false, func(k string, v []byte) error { keys = append(keys, k+"="+string(v)); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, " ") != `a/manuals/edge-1={"v":1} a/manuals/edge-2={"v":2}` {
		t.Errorf("Scan = %v", keys)
	}
	vals, err := st.GetMany([]string{"o/manuals", "o/none"})
	if err != nil || string(vals[0]) != "canary" || vals[1] != nil {
		t.Errorf("GetMany = %q, %v", vals, err)
	}
	if err := st.Update(ctx, nil, []string{"o/manuals"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get("o/manuals"); !errors.Is(err, shard.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
}

// TestMembersExpire registers three replicas in a real etcd: all are
// listed with what they advertise; one that stops renewing (as a killed
// process does) drops out within the TTL; one that stops cleanly drops
// out at once.
func TestMembersExpire(t *testing.T) {
	s := etcdtest.Start(t)
	const ttl = 2 * time.Second
	type running struct {
		m    *lease.Member
		stop context.CancelFunc
		done chan struct{}
	}
	var ls []*lease.Lease
	var rs []running
	for _, name := range []string{"a", "b", "c"} {
		l, err := lease.New(lease.Config{URL: s.URL("test"), Name: name, TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		m := l.Member()
		m.Advertise([]byte(`{"shards":["` + name + `"]}`))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		if name == "c" {
			// c writes its key once and never renews it: a kill -9.
			if err := m.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			close(done)
		} else {
			go func() { defer close(done); m.Run(ctx, 200*time.Millisecond) }()
		}
		ls, rs = append(ls, l), append(rs, running{m, cancel, done})
	}
	t.Cleanup(func() {
		for _, r := range rs {
			r.stop()
			<-r.done
		}
	})
	members := func() string {
		got, _, err := ls[0].Members(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range got {
			out = append(out, r.Name+"="+string(r.Value))
		}
		return strings.Join(out, " ")
	}
	waitFor(t, "three members", 3*time.Second, func() bool {
		return members() == `a={"shards":["a"]} b={"shards":["b"]} c={"shards":["c"]}`
	})
	rs[0].m.Advertise([]byte(`{"shards":["a","x"]}`))
	waitFor(t, "a's new value", 3*time.Second, func() bool { return strings.HasPrefix(members(), `a={"shards":["a","x"]}`) })
	gone := waitFor(t, "c expires", 2*ttl, func() bool { return !strings.Contains(members(), "c=") })
	t.Logf("a member that stopped renewing dropped out after %v (TTL %v)", gone, ttl)
	rs[1].stop()
	<-rs[1].done
	if got := members(); got != `a={"shards":["a","x"]}` {
		t.Errorf("after b stopped cleanly: %s; want only a", got)
	}
}
