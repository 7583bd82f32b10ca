package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/cmdline"
	"github.com/edgerag/edgerag/node/membership"
	"github.com/edgerag/edgerag/node/membership/keyops"
)

// gossipAddr returns a free host:port on ip for gossip (TCP and UDP).
func gossipAddr(t testing.TB, ip string) string {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", ip+":0")
		if err != nil {
			t.Skipf("cannot listen on %s (loopback aliases unavailable?): %v", ip, err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			continue
		}
		pc.Close()
		return net.JoinHostPort(ip, strconv.Itoa(port))
	}
	t.Fatalf("no free gossip port on %s", ip)
	return ""
}

func fleetOf(t testing.TB, url string) membership.Fleet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var f membership.Fleet
	if err := testClient(url).Call(ctx, http.MethodGet, "/v1/fleet", nil, &f); err != nil {
		t.Fatalf("GET /v1/fleet: %v", err)
	}
	return f
}

func memberOf(f membership.Fleet, name string) (membership.Member, bool) {
	for _, m := range f.Members {
		if m.Name == name {
			return m, true
		}
	}
	return membership.Member{}, false
}

func holds(m membership.Member, shard string) bool {
	return slices.ContainsFunc(m.Shards, func(s membership.ShardVersion) bool { return s.Name == shard })
}

func citationIDs(r api.QueryResponse) []string {
	var ids []string
	for _, c := range r.Citations {
		ids = append(ids, c.DocumentID+"/"+c.ChunkID)
	}
	return ids
}

// TestMembership runs a site of five edges and central as processes: Serf
// membership over 127.0.0.x loopback addresses, peer queries over QUIC with
// mutual TLS. The subtests share the fleet and run in order.
func TestMembership(t *testing.T) {
	ctx := context.Background()
	top := t
	edges := []string{"e1", "e2", "e3", "e4", "e5"}
	tls := fleetDir(t, "central", edges...)
	keyring := filepath.Join(t.TempDir(), "keyring")
	if out, err := exec.Command(binary, "keys", "generate", "--out", keyring).CombinedOutput(); err != nil {
		t.Fatalf("keys generate: %v\n%s", err, out)
	}
	const timeout = 2 * time.Second
	central := startProc(t, []string{"central", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0", "--tls-dir", tls, "--name", "central"})

	// e1 and e2 hold "pumps", e3 "presses", e4 and e5 "valves"; central
	// holds everything.
	docs := map[string]api.Document{
		"pumps":   {ID: "pump", Shard: "pumps", Title: "Pump P-100", Body: "To reset the pump press the blue RESET button on panel B after the overload cause is removed. The pump impeller is inspected every 500 hours."},
		"presses": {ID: "press", Shard: "presses", Title: "Hydraulic press H-3", Body: "The hydraulic press uses ISO VG 46 oil, changed every 2,000 operating hours."},
		"valves":  {ID: "valve", Shard: "valves", Title: "Valve V-7", Body: "Valve V-7 is closed by turning the red handwheel clockwise until it stops."},
	}
	holdings := map[string]string{"e1": "pumps", "e2": "pumps", "e3": "presses", "e4": "valves", "e5": "valves"}
	cc := testClient(central.url)
	for _, d := range docs {
		if _, err := cc.Ingest(ctx, []api.Document{d}); err != nil {
			t.Fatal(err)
		}
	}

	gossip := map[string]string{}
	data := map[string]string{}
	args := func(name string, join bool) []string {
		a := []string{"serve", "--data", data[name], "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0", "--tls-dir", tls, "--name", name,
			"--central", central.quic, "--query-timeout", timeout.String(), "--gossip", gossip[name], "--keyring", keyring,
			"--fleet-label", "test-site", "--gossip-profile", "lan", "--share", "all"}
		if join && name != "e1" {
			a = append(a, "--join", gossip["e1"])
		}
		return a
	}
	procs := map[string]*proc{}
	start := time.Now()
	for i, name := range edges {
		gossip[name] = gossipAddr(t, fmt.Sprintf("127.0.0.%d", 11+i))
		data[name] = t.TempDir()
		procs[name] = startProc(t, args(name, true))
		if _, err := testClient(procs[name].url).Ingest(ctx, []api.Document{docs[holdings[name]]}); err != nil {
			t.Fatal(err)
		}
	}
	lan := membership.LAN()

	pumpQ := api.QueryRequest{Question: "How do I reset the pump? blue RESET button", Shard: "pumps"}
	ask := func(t *testing.T, name string, q api.QueryRequest) (api.QueryResponse, time.Duration) {
		t.Helper()
		qctx, cancel := context.WithTimeout(ctx, 3*timeout)
		defer cancel()
		began := time.Now()
		r, err := testClient(procs[name].url).Query(qctx, q)
		took := time.Since(began)
		if err != nil {
			t.Fatalf("query %s: %v", name, err)
		}
		if took > timeout+500*time.Millisecond {
			// The node keeps its deadline unless it is not scheduled at
			// all: on a machine loaded beyond two runnable threads a core,
			// say so rather than blame the node.
			if l := loadPerCPU(); l > 2 {
				t.Logf("query to %s took %v, past its %v deadline, with the machine at load %.1f a core (route %q, reasons %v)", name, took, timeout, l, r.Route, r.Reasons)
			} else {
				t.Errorf("query to %s took %v, past its %v deadline (route %q, reasons %v)", name, took, timeout, r.Route, r.Reasons)
			}
		}
		return r, took
	}

	// settle asks until want accepts the answer or 6 s pass, for checks of
	// the steady state: on a loaded machine a probe can miss its 500 ms
	// timeout, and a suspect peer is rightly skipped for a moment.
	settle := func(t *testing.T, q api.QueryRequest, want func(api.QueryResponse) bool) api.QueryResponse {
		t.Helper()
		// A peer that timed out once is skipped for the profile's shortest
		// detection time (4.5 s), so wait a little longer than that.
		deadline := time.Now().Add(6 * time.Second)
		for {
			r, _ := ask(t, "e5", q)
			if want(r) || time.Now().After(deadline) {
				return r
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	isPeer := func(name string) func(api.QueryResponse) bool {
		return func(r api.QueryResponse) bool { return r.Route == "peer:"+name }
	}

	t.Run("join", func(t *testing.T) {
		// An upper bound, not a speed claim (the join time is logged
		// below and benchmarked in BENCHMARKS.md): beside the other test
		// packages on 2 cores a shard-list fetch can time out once and wait
		// for its retry.
		deadline := time.Now().Add(30 * time.Second)
		for {
			bad := ""
			for _, viewer := range edges {
				f := fleetOf(t, procs[viewer].url)
				for _, name := range edges {
					m, ok := memberOf(f, name)
					if !ok || m.Status != membership.StatusAlive || !holds(m, holdings[name]) {
						bad = fmt.Sprintf("%s sees %s as %+v", viewer, name, m)
					}
				}
			}
			if bad == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("five nodes not converged in 30 s: %s", bad)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("five nodes alive with their shards in every view %v after the first start", time.Since(start).Round(10*time.Millisecond))
		resp, err := testGet(procs["e5"].url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `edgerag_gossip_members{status="alive"} 5`) {
			t.Errorf("/metrics lacks 5 alive gossip members")
		}
		if resp, err = testGet(procs["e5"].url + "/"); err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "<td>e5 (this node)</td><td>alive</td>") || !strings.Contains(string(body), "pumps@") {
			t.Errorf("status page lacks the fleet")
		}
		out, err := exec.Command(binary, "fleet", "--node", procs["e5"].url, "--token", tokenOf(procs["e5"].url)).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "pumps@") || strings.Count(string(out), " alive ") != 5 {
			t.Errorf("edgerag fleet: %v\n%s", err, out)
		}
	})

	t.Run("peer answers what the node lacks", func(t *testing.T) {
		r := settle(t, pumpQ, func(r api.QueryResponse) bool { return strings.HasPrefix(r.Route, "peer:") })
		holder, ok := strings.CutPrefix(r.Route, "peer:")
		if !ok || holdings[holder] != "pumps" {
			t.Fatalf("route %q (reasons %v); want a pumps holder", r.Route, r.Reasons)
		}
		own, err := testClient(procs[holder].url).Query(ctx, pumpQ)
		if err != nil {
			t.Fatal(err)
		}
		if own.Route != "local" || !slices.Equal(citationIDs(r), citationIDs(own)) || len(own.Citations) == 0 {
			t.Errorf("via peer: %v; the holder %s locally (%s): %v", citationIDs(r), holder, own.Route, citationIDs(own))
		}
		if r.Node != holder {
			t.Errorf("answer names node %q; want %q", r.Node, holder)
		}
	})

	t.Run("weak local answer goes to the peer with the better shard", func(t *testing.T) {
		// e5 holds only valves; e3's term filter holds the press manual's
		// words. The question names no shard.
		r := settle(t, api.QueryRequest{Question: "Which oil does the hydraulic press use?"}, isPeer("e3"))
		if r.Route != "peer:e3" || len(r.Citations) == 0 || r.Citations[0].DocumentID != "press" {
			t.Errorf("route %q (reasons %v) citations %v; want peer:e3 citing the press manual", r.Route, r.Reasons, citationIDs(r))
		}
	})

	// checkPump fails on a wrong answer: one that is not degraded must
	// cite the pump manual.
	checkPump := func(t *testing.T, r api.QueryResponse) {
		t.Helper()
		if r.Degraded || r.Abstained {
			return
		}
		if len(r.Citations) == 0 || r.Citations[0].DocumentID != "pump" {
			t.Errorf("wrong answer via %s: %+v", r.Route, r.Citations)
		}
	}

	t.Run("kill -9 of the holder", func(t *testing.T) {
		first, _ := ask(t, "e5", pumpQ)
		victim := strings.TrimPrefix(first.Route, "peer:")
		if holdings[victim] != "pumps" {
			t.Fatalf("route %q before the kill", first.Route)
		}
		if err := procs[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		procs[victim].cmd.Wait()
		killed := time.Now()
		_, worst := lan.FailureDetection(len(edges))
		var detected, slowest time.Duration
		routes := map[string]int{}
		for time.Since(killed) < worst+3*time.Second {
			r, took := ask(t, "e5", pumpQ)
			slowest = max(slowest, took)
			checkPump(t, r)
			routes[r.Route]++
			if r.Route == "peer:"+victim {
				t.Errorf("answered by the killed node %s", victim)
			}
			if !strings.HasPrefix(r.Route, "peer:") && r.Route != "central" {
				if l := loadPerCPU(); l > 2 && slices.Contains(r.Reasons, "deadline") {
					t.Logf("route %q (reasons %v) with the machine at load %.1f a core", r.Route, r.Reasons, l)
				} else {
					t.Errorf("route %q (reasons %v); want another holder or central", r.Route, r.Reasons)
				}
			}
			if m, _ := memberOf(fleetOf(t, procs["e5"].url), victim); m.Status == membership.StatusFailed {
				detected = time.Since(killed)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if detected == 0 {
			t.Fatalf("%s not marked failed within %v (lan worst case for %d members)", victim, worst, len(edges))
		}
		best, _ := lan.FailureDetection(len(edges))
		t.Logf("serf failure detection after kill -9: %v (lan profile, %d members: expected %v..%v); routes meanwhile %v, slowest query %v",
			detected.Round(10*time.Millisecond), len(edges), best, worst, routes, slowest.Round(time.Millisecond))
		other := map[string]string{"e1": "e2", "e2": "e1"}[victim]
		r := settle(t, pumpQ, isPeer(other))
		checkPump(t, r)
		if r.Route != "peer:"+other {
			t.Errorf("after detection route %q; want the other holder %s", r.Route, other)
		}
	})

	// Which pumps holder is still alive: the one the kill spared.
	alive := "e2"
	if procs["e2"].cmd.ProcessState != nil {
		alive = "e1"
	}
	dead := map[string]string{"e1": "e2", "e2": "e1"}[alive]

	t.Run("SIGSTOP then SIGCONT", func(t *testing.T) {
		if r := settle(t, pumpQ, isPeer(alive)); r.Route != "peer:"+alive {
			t.Fatalf("before the hang route %q; want peer:%s", r.Route, alive)
		}
		p := procs[alive].cmd.Process
		if err := p.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		waitState(t, p.Pid, 'T')
		stopped := time.Now()
		routes := map[string]int{}
		for time.Since(stopped) < 4*time.Second {
			r, _ := ask(t, "e5", pumpQ)
			checkPump(t, r)
			routes[r.Route]++
			if r.Route == "peer:"+alive {
				t.Errorf("answered by the hung node")
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err := p.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		resumed := time.Now()
		for {
			r, _ := ask(t, "e5", pumpQ)
			checkPump(t, r)
			if r.Route == "peer:"+alive {
				break
			}
			if time.Since(resumed) > 20*time.Second {
				t.Fatalf("%s not routed to within 20 s of SIGCONT (last route %q, reasons %v)", alive, r.Route, r.Reasons)
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Logf("hung 4 s: routes %v; routed to again %v after SIGCONT", routes, time.Since(resumed).Round(10*time.Millisecond))
	})

	t.Run("restart rejoins from snapshot", func(t *testing.T) {
		// Started with the parent test's T: it must outlive this subtest.
		procs[dead] = startProc(top, args(dead, false)) // no --join
		began := time.Now()
		for {
			m, _ := memberOf(fleetOf(t, procs["e5"].url), dead)
			own := fleetOf(t, procs[dead].url)
			if m.Status == membership.StatusAlive && holds(m, "pumps") && len(own.Members) == len(edges) {
				break
			}
			if time.Since(began) > 15*time.Second {
				t.Fatalf("restarted %s not back: e5 sees %+v; it sees %d members\n%s", dead, m, len(own.Members), procs[dead].logs)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("restarted %s rejoined without --join in %v", dead, time.Since(began).Round(10*time.Millisecond))
		r := settle(t, pumpQ, isPeer("e1"))
		checkPump(t, r)
		if r.Route != "peer:e1" {
			// Equal loads: the policy prefers the first name.
			t.Errorf("route %q; want peer:e1 again", r.Route)
		}
	})

	t.Run("keys rotate", func(t *testing.T) {
		// Every member must answer a key operation: wait until all see all.
		began := time.Now()
		for {
			n := 0
			for _, viewer := range edges {
				for _, m := range fleetOf(t, procs[viewer].url).Members {
					if m.Status == membership.StatusAlive {
						n++
					}
				}
			}
			if n == len(edges)*len(edges) {
				break
			}
			// A restarted member is seen alive again once its rejoin has
			// refuted the others' suspicion, seconds on an idle machine;
			// under a fresh make test's load it took over 10 s.
			if time.Since(began) > 30*time.Second {
				t.Fatalf("pool not converged before the rotation: %d of %d member views alive after %v", n, len(edges)*len(edges), time.Since(began))
			}
			time.Sleep(100 * time.Millisecond)
		}
		before, err := os.ReadFile(keyring)
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(binary, "keys", "rotate", "--node", procs["e5"].url, "--token", tokenOf(procs["e5"].url), "--overlap", "1s").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "installed the new key on 5 members") || !strings.Contains(string(out), "removed the old key from 5 members") {
			t.Fatalf("keys rotate: %v\n%s", err, out)
		}
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		list, err := keyops.Call(ctx, cmdline.Client(procs["e1"].url, tokenOf(procs["e1"].url), "", ""), "list", "")
		if err != nil {
			t.Fatal(err)
		}
		after, _ := os.ReadFile(keyring)
		keys, err := membership.ParseKeyring(after)
		if err != nil || len(keys) != 1 || string(after) == string(before) {
			t.Fatalf("keyring file after rotation: %s (%v); before: %s", after, err, before)
		}
		if len(list.Keys) != 1 || len(list.Primary) != 1 {
			t.Errorf("after rotation the pool holds keys %v, primaries %v; want one new key everywhere", list.Keys, list.Primary)
		}
		for k, n := range list.Primary {
			if n != len(edges) || !strings.Contains(string(after), k) {
				t.Errorf("primary %s… on %d members; want the keyring file's key on all %d", k[:8], n, len(edges))
			}
		}
		for _, viewer := range []string{"e1", "e5"} {
			for _, m := range fleetOf(t, procs[viewer].url).Members {
				if m.Status != membership.StatusAlive {
					t.Errorf("after rotation %s sees %s as %s", viewer, m.Name, m.Status)
				}
			}
		}
	})

	t.Run("foreign key or label cannot join", func(t *testing.T) {
		otherKey := filepath.Join(t.TempDir(), "keyring")
		if out, err := exec.Command(binary, "keys", "generate", "--out", otherKey).CombinedOutput(); err != nil {
			t.Fatalf("keys generate: %v\n%s", err, out)
		}
		rogues := map[string][]string{
			"rogue-key":   {"--keyring", otherKey, "--fleet-label", "test-site"},
			"rogue-label": {"--keyring", keyring, "--fleet-label", "other-site"},
		}
		var ps []*proc
		for name, extra := range rogues {
			a := append([]string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--name", name,
				"--gossip", gossipAddr(t, "127.0.0.20"), "--join", gossip["e5"]}, extra...)
			ps = append(ps, startProc(t, a))
		}
		time.Sleep(2 * time.Second)
		for _, m := range fleetOf(t, procs["e5"].url).Members {
			if strings.HasPrefix(m.Name, "rogue") {
				t.Errorf("e5 lists %s as %s", m.Name, m.Status)
			}
		}
		for _, p := range ps {
			if n := len(fleetOf(t, p.url).Members); n != 1 {
				t.Errorf("a rogue node sees %d members; want only itself", n)
			}
			if !strings.Contains(p.logs.String(), "gossip join failed") {
				t.Errorf("rogue log does not say the join failed:\n%s", p.logs)
			}
		}
	})
}

// TestGossipFlagsRefused checks the start-up refusals a user would hit.
func TestGossipFlagsRefused(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open-keyring")
	if out, err := exec.Command(binary, "keys", "generate", "--out", open).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if out, err := exec.Command("chmod", "644", open).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no keyring", []string{"--gossip", "127.0.0.1:0"}, "--keyring"},
		{"readable keyring", []string{"--gossip", "127.0.0.1:0", "--keyring", open}, "chmod 600"},
		{"bad profile", []string{"--gossip", "127.0.0.1:0", "--insecure-dev", "--gossip-profile", "wan"}, "gossip profile"},
		{"join without gossip", []string{"--join", "127.0.0.1:1"}, "need --gossip"},
		{"bad label", []string{"--gossip", "127.0.0.1:0", "--insecure-dev", "--fleet-label", "a b"}, "fleet label"},
		{"bad node name", []string{"--gossip", "127.0.0.1:0", "--insecure-dev", "--name", "Edge_1"}, "node name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--name", "n1"}, c.args...)
			out, err := exec.Command(binary, args...).CombinedOutput()
			if err == nil || !strings.Contains(string(out), c.want) {
				t.Errorf("err %v; output %s; want it to mention %q", err, out, c.want)
			}
		})
	}
}

// waitState waits until /proc says process pid is in state (T: stopped),
// since a signal takes effect asynchronously.
func waitState(t *testing.T, pid int, state byte) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Skipf("cannot read process state: %v", err)
		}
		// The state follows the command name in parentheses.
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && i+2 < len(b) && b[i+2] == state {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("process %d not in state %c after 5 s", pid, state)
}

// loadPerCPU is the 1-minute load average over the CPUs (0 if unknown).
func loadPerCPU() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	l, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0
	}
	return l / float64(runtime.NumCPU())
}
