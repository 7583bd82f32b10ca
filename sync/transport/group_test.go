package transport

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgerag/edgerag/sync/wire"
)

// fakeCaller answers per address: "ok", "down" (an error at once), "hang"
// (no answer until the call's context ends) or "refuse" (a bad-request
// refusal). The fleet process tests check the real thing with kill -9.
type fakeCaller struct {
	mu    sync.Mutex
	mode  map[string]string
	calls []string
}

func (f *fakeCaller) set(addr, mode string) {
	f.mu.Lock()
	f.mode[addr] = mode
	f.mu.Unlock()
}

func (f *fakeCaller) asked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.calls
	f.calls = nil
	return out
}

func (f *fakeCaller) Call(ctx context.Context, addr, serverName string, typ wire.Type, payload []byte) ([]byte, error) {
	f.mu.Lock()
	f.calls = append(f.calls, addr)
	mode := f.mode[addr]
	f.mu.Unlock()
	switch mode {
	case "ok":
		return []byte(addr), nil
	case "refuse":
		return nil, &Error{Code: wire.CodeBadRequest, Message: "bad"}
	case "hang":
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return nil, fmt.Errorf("connect to %s: connection refused", addr)
}

func newFakeGroup(t *testing.T, spec string, modes map[string]string, cfg GroupConfig) (*Group, *fakeCaller) {
	t.Helper()
	f := &fakeCaller{mode: modes}
	g, err := NewGroup(f, spec, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g, f
}

func TestParseAddrList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{in: "10.0.0.1:7443", want: []string{"10.0.0.1:7443"}},
		{in: " a:1 , b:2,,a:1 ", want: []string{"a:1", "b:2"}},
		{in: "[::1]:7443,central.example:7443", want: []string{"[::1]:7443", "central.example:7443"}},
		{in: "", err: "no address"},
		{in: "a", err: "host:port"},
		{in: ":7443", err: "no host"},
		{in: "a:http", err: "port"},
		{in: "a:0", err: "port"},
	} {
		got, err := ParseAddrList(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseAddrList(%q) = %v, %v; want an error saying %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseAddrList(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestGroupFailsOverAndSticks(t *testing.T) {
	g, f := newFakeGroup(t, "a:1,b:2", map[string]string{"a:1": "down", "b:2": "ok"}, GroupConfig{})
	ctx := context.Background()
	b, err := g.Call(ctx, g.Spec(), "central", wire.TypeSyncVersions, nil)
	if err != nil || string(b) != "b:2" {
		t.Fatalf("Call = %q, %v; want b's answer", b, err)
	}
	if got := f.asked(); !slices.Equal(got, []string{"a:1", "b:2"}) {
		t.Errorf("asked %v, want a then b", got)
	}
	// a's breaker is open and b answered last: b alone is asked now.
	for range 3 {
		if _, err := g.Call(ctx, g.Spec(), "central", wire.TypeSyncVersions, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.asked(); !slices.Equal(got, []string{"b:2", "b:2", "b:2"}) {
		t.Errorf("asked %v, want b only while it answers", got)
	}
	h := g.Health()
	if len(h) != 2 || h[0].Addr != "b:2" || h[1].Addr != "a:1" || !h[1].Open || h[1].Failures != 1 {
		t.Errorf("health %+v", h)
	}
	// b dies too, a is back: a is asked again (open addresses are tried
	// last, never skipped).
	f.set("b:2", "down")
	f.set("a:1", "ok")
	if b, err := g.Call(ctx, g.Spec(), "central", wire.TypeReport, nil); err != nil || string(b) != "a:1" {
		t.Fatalf("Call = %q, %v; want a's answer after b failed", b, err)
	}
}

func TestGroupHedgesPastASilentAddress(t *testing.T) {
	g, f := newFakeGroup(t, "a:1,b:2", map[string]string{"a:1": "hang", "b:2": "ok"}, GroupConfig{HedgeAfter: 50 * time.Millisecond})
	// With a deadline, the next address is asked at half the time left.
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	start := time.Now()
	b, err := g.Call(ctx, g.Spec(), "central", wire.TypeQuery, nil)
	took := time.Since(start)
	if err != nil || string(b) != "b:2" {
		t.Fatalf("Call = %q, %v; want b's answer", b, err)
	}
	if took < 150*time.Millisecond || took > 350*time.Millisecond {
		t.Errorf("answered after %v; want about half the 400 ms deadline", took)
	}
	f.asked()
	// a lost the race: b is asked first from now on, at once.
	start = time.Now()
	if _, err := g.Call(context.Background(), g.Spec(), "central", wire.TypeSyncVersions, nil); err != nil {
		t.Fatal(err)
	}
	if got := f.asked(); !slices.Equal(got, []string{"b:2"}) || time.Since(start) > 40*time.Millisecond {
		t.Errorf("asked %v in %v; want b alone, at once", got, time.Since(start))
	}

	// Without a deadline a call waits HedgeAfter; a request that is not
	// safe to repeat is never hedged.
	g2, f2 := newFakeGroup(t, "a:1,b:2", map[string]string{"a:1": "hang", "b:2": "ok"}, GroupConfig{HedgeAfter: 50 * time.Millisecond})
	start = time.Now()
	if b, err := g2.Call(context.Background(), g2.Spec(), "central", wire.TypeSyncVersions, nil); err != nil || string(b) != "b:2" || time.Since(start) > 300*time.Millisecond {
		t.Errorf("no deadline: %q, %v after %v", b, err, time.Since(start))
	}
	f2.asked()
	g3, f3 := newFakeGroup(t, "a:1,b:2", map[string]string{"a:1": "hang", "b:2": "ok"}, GroupConfig{HedgeAfter: 10 * time.Millisecond})
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := g3.Call(ctx, g3.Spec(), "central", wire.TypeReport, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("report to a silent address: %v; want the caller's deadline", err)
	}
	if got := f3.asked(); !slices.Equal(got, []string{"a:1"}) {
		t.Errorf("report asked %v; want a alone (not idempotent)", got)
	}
}

func TestGroupDoesNotFailOverARefusal(t *testing.T) {
	g, f := newFakeGroup(t, "a:1,b:2", map[string]string{"a:1": "refuse", "b:2": "ok"}, GroupConfig{})
	_, err := g.Call(context.Background(), g.Spec(), "central", wire.TypeQuery, nil)
	var e *Error
	if !errors.As(err, &e) || e.Code != wire.CodeBadRequest {
		t.Fatalf("error %v; want a's refusal", err)
	}
	if got := f.asked(); !slices.Equal(got, []string{"a:1"}) {
		t.Errorf("asked %v; a refusal is every replica's answer: want a alone", got)
	}
}

func TestGroupAllDown(t *testing.T) {
	g, _ := newFakeGroup(t, "a:1,b:2", map[string]string{}, GroupConfig{})
	_, err := g.Call(context.Background(), g.Spec(), "central", wire.TypeQuery, nil)
	if err == nil || !strings.Contains(err.Error(), "all 2 addresses") || !strings.Contains(err.Error(), "b:2") {
		t.Errorf("error %v; want one naming every address", err)
	}
}

func TestGroupResolvesEveryRecord(t *testing.T) {
	var lookups int
	resolve := func(ctx context.Context, host string) ([]netip.Addr, error) {
		lookups++
		if host != "central.fleet" {
			return nil, errors.New("no such host")
		}
		return []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")}, nil
	}
	now := time.Unix(1000, 0)
	g, f := newFakeGroup(t, "central.fleet:7443", map[string]string{"10.0.0.1:7443": "down", "10.0.0.2:7443": "ok"},
		GroupConfig{Resolve: resolve, Now: func() time.Time { return now }})
	if b, err := g.Call(context.Background(), g.Spec(), "central", wire.TypeQuery, nil); err != nil || string(b) != "10.0.0.2:7443" {
		t.Fatalf("Call = %q, %v", b, err)
	}
	if got := f.asked(); !slices.Equal(got, []string{"10.0.0.1:7443", "10.0.0.2:7443"}) {
		t.Errorf("asked %v; want each record of the name", got)
	}
	g.Call(context.Background(), g.Spec(), "central", wire.TypeQuery, nil)
	if lookups != 1 {
		t.Errorf("%d lookups within ResolveEvery; want 1", lookups)
	}
	now = now.Add(DefaultResolveEvery + time.Second)
	g.Call(context.Background(), g.Spec(), "central", wire.TypeQuery, nil)
	if lookups != 2 {
		t.Errorf("%d lookups after ResolveEvery; want 2", lookups)
	}
}

func TestGroupPassesOtherAddressesThrough(t *testing.T) {
	g, f := newFakeGroup(t, "a:1,b:2", map[string]string{"peer:3": "ok"}, GroupConfig{})
	if b, err := g.Call(context.Background(), "peer:3", "edge-2", wire.TypeQuery, nil); err != nil || string(b) != "peer:3" {
		t.Fatalf("Call = %q, %v", b, err)
	}
	if got := f.asked(); !slices.Equal(got, []string{"peer:3"}) {
		t.Errorf("asked %v", got)
	}
}
