package main

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

// cli runs the binary and returns its stdout and stderr together with
// whether it succeeded.
func runCLI(args ...string) (string, error) {
	out, err := exec.Command(binary, args...).CombinedOutput()
	return string(out), err
}

func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runCLI(args...)
	if err != nil {
		t.Fatalf("edgerag %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// enrolledIdentity loads the fleet identity enroll wrote for name.
func enrolledIdentity(t *testing.T, dir, name string) *pki.Identity {
	t.Helper()
	id, err := pki.LoadIdentity(filepath.Join(dir, pki.CACertFile), filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// ping calls a node's QUIC endpoint with a fresh connection as id.
func ping(id *pki.Identity, addr, serverName string) error {
	c := transport.NewClient(transport.Config{Identity: id})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := c.Call(ctx, addr, serverName, wire.TypePing, nil)
	return err
}

// TestEnrollRenewRevokeProcesses runs central and two edges as processes,
// the edges enrolled with the CLI as a new device would be: a wrong CA
// fingerprint, a reused and an expired token are refused with clear
// errors; the enrolled edges sync and escalate; their 6-second
// certificates are renewed by the running edges, which keep working past
// the first certificate's expiry; a revoked edge is refused by central at
// once and by the other edge within one sync poll, and is not renewed.
func TestEnrollRenewRevokeProcesses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ca, tls, keys := filepath.Join(dir, "ca"), filepath.Join(dir, "tls"), filepath.Join(dir, "keys")
	mustCLI(t, "ca", "init", "--dir", ca, "--fleet", "test")
	mustCLI(t, "cert", "issue", "--ca", ca, "--out", tls, "--name", "central", "--role", "central")
	if out, err := exec.Command("cp", filepath.Join(ca, "ca.crt"), tls).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	mustCLI(t, "sync", "keygen", "--out", keys)
	// The certificates' life must cover the setup below (two enrollments,
	// two edge processes, a sync) before edge-1 first renews at about two
	// thirds of it: at 6 s a loaded machine let the first certificate
	// expire before its edge had started.
	const life, poll = 10 * time.Second, 500 * time.Millisecond
	// The press manual stays unpublished but is shared with edges'
	// questions (--share), so only escalation can answer it.
	central := startProc(t, []string{"central", "--data", filepath.Join(dir, "c"), "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0",
		"--tls-dir", tls, "--name", "central", "--sync-key", filepath.Join(keys, "sync.key"), "--no-sync",
		"--ca", ca, "--cert-valid", life.String(), "--share", "plant"})
	cc := testClient(central.url)
	pump := api.Document{ID: "pump", Shard: "manuals", Title: "Pump P-100", Body: "To reset the pump press the blue RESET button on panel B after the overload cause is removed."}
	press := api.Document{ID: "press", Shard: "plant", Title: "Hydraulic press H-3", Body: "The hydraulic press uses ISO VG 46 oil, changed every 2,000 operating hours."}
	if _, err := cc.Ingest(ctx, []api.Document{pump, press}); err != nil {
		t.Fatal(err)
	}
	admin := []string{"--node", central.url, "--token", tokenOf(central.url)}
	mustCLI(t, append([]string{"publish", "--shard", "manuals"}, admin...)...)
	fp := strings.TrimSpace(mustCLI(t, "ca", "fingerprint", "--dir", ca))
	token := func(name string, extra ...string) string {
		t.Helper()
		out, err := exec.Command(binary, append(append([]string{"cert", "enroll-token", name}, admin...), extra...)...).Output()
		if err != nil {
			t.Fatalf("cert enroll-token %s: %v", name, err)
		}
		return strings.TrimSpace(string(out))
	}
	enroll := func(tok, fingerprint, data string) (string, error) {
		return runCLI("enroll", "--central", central.enroll, "--token", tok, "--ca-fingerprint", fingerprint, "--data", data)
	}

	e1, e2 := filepath.Join(dir, "e1"), filepath.Join(dir, "e2")
	tok1 := token("edge-1")
	if out, err := enroll(tok1, "sha256:"+strings.Repeat("0", 64), e1); err == nil || !strings.Contains(out, "not the one pinned") {
		t.Fatalf("enroll with a wrong CA fingerprint: %v\n%s", err, out)
	}
	start := time.Now()
	if out, err := enroll(tok1, fp, e1); err != nil || !strings.Contains(out, "enrolled as edge-1") {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	t.Logf("enroll (process start to certificate on disk): %v", time.Since(start))
	if out, err := enroll(tok1, fp, e2); err == nil || !strings.Contains(out, "already used") {
		t.Fatalf("enroll with a used token: %v\n%s", err, out)
	}
	expiring := token("edge-2", "--ttl", "1s")
	time.Sleep(1100 * time.Millisecond)
	if out, err := enroll(expiring, fp, e2); err == nil || !strings.Contains(out, "expired") {
		t.Fatalf("enroll with an expired token: %v\n%s", err, out)
	}
	if out, err := enroll(token("edge-2"), fp, e2); err != nil {
		t.Fatalf("enroll edge-2: %v\n%s", err, out)
	}
	first := enrolledIdentity(t, filepath.Join(e1, "tls"), "edge-1").NotAfter()

	edge := func(data, name string) *proc {
		// No --tls-dir: an enrolled node finds DATA/tls.
		return startProc(t, []string{"serve", "--data", data, "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0",
			"--name", name, "--central", central.quic, "--sync-pub", filepath.Join(keys, "sync.pub"), "--sync-poll", poll.String()})
	}
	edge1, edge2 := edge(e1, "edge-1"), edge(e2, "edge-2")
	waitApplied(t, edge1.url, 1)
	escalates := func(p *proc) bool {
		r, err := testClient(p.url).Query(ctx, api.QueryRequest{Question: "Which oil does the hydraulic press use?"})
		return err == nil && r.Route == "central" && len(r.Citations) > 0 && r.Citations[0].DocumentID == "press"
	}
	if !escalates(edge1) {
		t.Fatal("the enrolled edge does not escalate to central")
	}

	// Past the first certificate's end, the edges still work: renewed.
	time.Sleep(time.Until(first) + time.Second)
	now := enrolledIdentity(t, filepath.Join(e1, "tls"), "edge-1").NotAfter()
	if !now.After(first) || !escalates(edge1) || !escalates(edge2) {
		t.Fatalf("after the first certificate expired (%v): certificate on disk until %v, log:\n%s", first, now, edge1.logs)
	}
	if st := syncStatus(t, edge1.url); st.PollError != "" {
		t.Errorf("edge-1 cannot poll central after renewal: %s", st.PollError)
	}
	t.Logf("renewals of edge-1 in %v: %d", time.Since(start), strings.Count(edge1.logs.String(), "certificate renewed"))

	// Revocation.
	id1 := enrolledIdentity(t, filepath.Join(e1, "tls"), "edge-1")
	if err := ping(id1, edge2.quic, "edge-2"); err != nil {
		t.Fatalf("edge-1 to edge-2 before the revocation: %v", err)
	}
	revoked := time.Now()
	mustCLI(t, append([]string{"cert", "revoke", "edge-1"}, admin...)...)
	if err := ping(id1, central.quic, "central"); err == nil {
		t.Fatal("central still serves edge-1 after 'cert revoke'")
	}
	for ping(id1, edge2.quic, "edge-2") == nil {
		if time.Since(revoked) > 10*poll {
			t.Fatalf("edge-2 still serves edge-1 %v after the revocation (poll %v)", time.Since(revoked), poll)
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(revoked)
	t.Logf("revoke → refused by edge-2: %v (%.1f polls of %v)", took, float64(took)/float64(poll), poll)
	if took > 2*poll+time.Second {
		t.Errorf("edge-2 took %v to refuse a revoked edge; want within one poll (%v) plus the call", took, poll)
	}
	if err := ping(enrolledIdentity(t, filepath.Join(e2, "tls"), "edge-2"), edge2.quic, "edge-2"); err != nil {
		t.Errorf("edge-2's own, unrevoked certificate refused: %v", err)
	}
	deadline := time.Now().Add(2 * life)
	for !strings.Contains(edge1.logs.String(), "refused for good") {
		if time.Now().After(deadline) {
			t.Fatalf("edge-1 was not refused renewal:\n%s", edge1.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if escalates(edge1) {
		t.Error("the revoked edge still escalates to central")
	}
	list := mustCLI(t, append([]string{"cert", "list"}, admin...)...)
	if !strings.Contains(list, "revoked") || !strings.Contains(list, "edge-2") {
		t.Errorf("cert list:\n%s", list)
	}
	audit := mustCLI(t, append([]string{"audit"}, admin...)...)
	if !strings.Contains(audit, "revocation") || !strings.Contains(audit, "cert revoke") {
		t.Errorf("audit log has no revocation:\n%s", audit)
	}
	var te *transport.Error
	if err := ping(id1, central.quic, "central"); err == nil || errors.As(err, &te) && te.Code != wire.CodeUnauthorized {
		t.Errorf("revoked edge at central: %v", err)
	}

	// edge-2 keeps the list: restarted while central is down, it still
	// refuses edge-1 before it could poll again.
	for _, p := range []*proc{central, edge2} {
		if err := p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = p.cmd.Wait()
	}
	edge2 = edge(e2, "edge-2")
	if err := ping(id1, edge2.quic, "edge-2"); err == nil {
		t.Error("edge-2 restarted without central serves the revoked edge-1")
	}
	if err := ping(enrolledIdentity(t, filepath.Join(e2, "tls"), "edge-2"), edge2.quic, "edge-2"); err != nil {
		t.Errorf("edge-2 restarted: its own certificate refused: %v", err)
	}
}
