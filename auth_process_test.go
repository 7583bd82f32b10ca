package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/api"
)

// makeToken creates a token on the node at url with the CLI, authenticated
// by the admin token in the node's data directory, and returns it.
func makeToken(t *testing.T, url, data, name, role, groups string) string {
	t.Helper()
	args := []string{"token", "create", "--node", url, "--data", data, "--name", name, "--role", role}
	if groups != "" {
		args = append(args, "--groups", groups)
	}
	cmd := exec.Command(binary, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, stderr.String())
	}
	tok := strings.TrimSpace(string(out))
	if !strings.HasPrefix(tok, "edgerag_") || strings.Contains(tok, "\n") {
		t.Fatalf("token create printed %q", out)
	}
	return tok
}

// call sends a request with an optional token and returns the status and
// the error code of the body, if any.
func call(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Error *api.Error `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != nil {
		return resp.StatusCode, e.Error.Code
	}
	return resp.StatusCode, ""
}

// TestEveryEndpointNeedsItsRole runs a node with gossip and asks each
// endpoint with no token, a revoked one and each role: 401 and 403 in the
// JSON error shape, before the handler (a body that would be refused as
// malformed is refused for the credential first), and the gossip key
// endpoint closed to everyone but admins.
func TestEveryEndpointNeedsItsRole(t *testing.T) {
	keyring := filepath.Join(t.TempDir(), "keyring")
	if out, err := exec.Command(binary, "keys", "generate", "--out", keyring).CombinedOutput(); err != nil {
		t.Fatalf("keys generate: %v\n%s", err, out)
	}
	data := t.TempDir()
	p := startProc(t, []string{"serve", "--data", data, "--http", "127.0.0.1:0", "--name", "n1",
		"--gossip", gossipAddr(t, "127.0.0.1"), "--keyring", keyring})
	if !strings.Contains(p.logs.String(), "admin token written") {
		t.Errorf("the node did not log where its admin token is:\n%s", p.logs)
	}
	tok := map[string]string{
		"query":  makeToken(t, p.url, data, "q", "query", ""),
		"ingest": makeToken(t, p.url, data, "i", "ingest", ""),
		"admin":  tokenOf(p.url),
	}
	revoked := makeToken(t, p.url, data, "gone", "admin", "")
	if out, err := exec.Command(binary, "token", "revoke", "gone", "--node", p.url, "--data", data).CombinedOutput(); err != nil {
		t.Fatalf("token revoke: %v\n%s", err, out)
	}
	levels := []string{"", "query", "ingest", "admin"}
	for _, c := range []struct {
		method, path, body string
		need               string // weakest role that gets past the guard; "" = open
	}{
		{"GET", "/healthz", "", ""},
		{"GET", "/readyz", "", ""},
		{"GET", "/", "", "query"},
		{"GET", "/metrics", "", "query"},
		{"GET", "/v1/status", "", "query"},
		{"GET", "/v1/fleet", "", "query"},
		{"POST", "/v1/query", `{"question":"pump"}`, "query"},
		{"POST", "/api/chat", `{"model":"edgerag","messages":[{"role":"user","content":"pump"}],"stream":false}`, "query"},
		{"POST", "/v1/documents", `{"id":"d","body":"the pump"}`, "ingest"},
		{"DELETE", "/v1/documents/d", "", "ingest"},
		{"POST", "/v1/fleet/keys", `{"op":"list"}`, "admin"},
		{"POST", "/v1/publish", `{"shard":"default"}`, "admin"},
		{"POST", "/v1/sync", "", "admin"},
		{"GET", "/v1/tokens", "", "admin"},
		{"GET", "/v1/audit", "", "admin"},
	} {
		url := p.url + c.path
		for li, have := range levels {
			status, code := call(t, c.method, url, tok[have], c.body)
			allowed := c.need == "" || (have != "" && li >= indexOf(levels, c.need))
			switch {
			case allowed && (status == 401 || status == 403):
				t.Errorf("%s %s as %q: %d %s, want it let through", c.method, c.path, have, status, code)
			case !allowed && strings.HasPrefix(c.path, "/api/") && status != 401 && status != 403:
				// Ollama's error shape: a message, no code.
				t.Errorf("%s %s as %q: %d, want 401 or 403", c.method, c.path, have, status)
			case strings.HasPrefix(c.path, "/api/"):
			case !allowed && have == "" && (status != 401 || code != api.CodeUnauthorized):
				t.Errorf("%s %s without a token: %d %q, want 401 unauthorized", c.method, c.path, status, code)
			case !allowed && have != "" && (status != 403 || code != api.CodeForbidden):
				t.Errorf("%s %s as %q: %d %q, want 403 forbidden", c.method, c.path, have, status, code)
			}
		}
		if c.need != "" {
			if status, code := call(t, c.method, url, revoked, c.body); status != 401 || (code != api.CodeUnauthorized && !strings.HasPrefix(c.path, "/api/")) {
				t.Errorf("%s %s with a revoked token: %d %q", c.method, c.path, status, code)
			}
		}
	}
	// The key list reaches an admin only, and then carries the key.
	status, _ := call(t, "POST", p.url+"/v1/fleet/keys", tok["admin"], `{"op":"list"}`)
	if status != 200 {
		t.Errorf("admin keys list: %d", status)
	}
	out, err := exec.Command(binary, "audit", "--node", p.url, "--data", data).CombinedOutput()
	if err != nil {
		t.Fatalf("audit: %v\n%s", err, out)
	}
	for _, want := range []string{"bootstrap", "revocation", "token create", "bad_token", "denied", "POST /v1/fleet/keys"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the audit log lacks %q:\n%s", want, out)
		}
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// TestAnonymousQueryAndNoClearTextOffLoopback: --anonymous query lets a
// client without a token ask (and nothing more); a non-loopback address
// without TLS or --insecure-http is refused with the reason.
func TestAnonymousQueryAndNoClearTextOffLoopback(t *testing.T) {
	p := startNode(t, t.TempDir(), "--anonymous", "query")
	if status, _ := call(t, "POST", p.url+"/v1/query", "", `{"question":"pump"}`); status != 200 {
		t.Errorf("anonymous query: %d", status)
	}
	if status, code := call(t, "POST", p.url+"/v1/documents", "", `{"id":"d","body":"x"}`); status != 401 || code != api.CodeUnauthorized {
		t.Errorf("anonymous ingest: %d %q", status, code)
	}
	out, err := exec.Command(binary, "serve", "--data", t.TempDir(), "--http", "0.0.0.0:0").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !strings.Contains(string(out), "without TLS") || !strings.Contains(string(out), "--insecure-http") {
		t.Errorf("plain HTTP on every interface: %v\n%s", err, out)
	}
	if out, err := exec.Command(binary, "serve", "--data", t.TempDir(), "--anonymous", "admin").CombinedOutput(); err == nil || !strings.Contains(string(out), "at most query") {
		t.Errorf("--anonymous admin: %v\n%s", err, out)
	}
	q := startNode(t, t.TempDir(), "--http", "0.0.0.0:0", "--insecure-http")
	if status, _ := call(t, "GET", q.url+"/v1/status", tokenOf(q.url), ""); status != 200 {
		t.Errorf("--insecure-http node: %d", status)
	}
}

// restrictedDocs are a public and an hr-only document that both answer the
// question; the secret is the hr one's alone.
var restrictedDocs = []api.Document{
	{ID: "pay-public", Shard: "pay", Title: "Night shift", Body: "Night shift operators of the boiler house start at 22:00 and hand over at 06:00."},
	{ID: "pay-secret", Shard: "pay", Title: "Night shift bonus", Groups: []string{"hr"}, Body: "Night shift operators of the boiler house earn a bonus of 731 euros a month."},
}

const restrictedQ = "night shift boiler house operators bonus euros"

// citesSecret asks the node at url with token and reports whether the
// restricted document shows anywhere in the answer, and the route.
func citesSecret(t *testing.T, url, token string) (bool, string) {
	t.Helper()
	c := api.NewClient(url, nil)
	c.Token = token
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := c.Query(ctx, api.QueryRequest{Question: restrictedQ, Shard: "pay", K: 5})
	if err != nil {
		t.Fatalf("query %s: %v", url, err)
	}
	secret := strings.Contains(r.Answer, "731 euros")
	for _, c := range r.Citations {
		secret = secret || c.DocumentID == "pay-secret" || strings.Contains(c.Snippet, "731 euros")
	}
	return secret, r.Route
}

// TestRestrictedDocumentThroughEveryRoute holds an hr-only document on
// central and on one edge, and asks a second edge, which holds neither,
// with a token without groups and with an hr token (each made on the edge
// asked): locally, through the peer and through central, the restricted
// document reaches the hr token only.
func TestRestrictedDocumentThroughEveryRoute(t *testing.T) {
	ctx := context.Background()
	tls := fleetDir(t, "central", "e1", "e2")
	keyring := filepath.Join(t.TempDir(), "keyring")
	if out, err := exec.Command(binary, "keys", "generate", "--out", keyring).CombinedOutput(); err != nil {
		t.Fatalf("keys generate: %v\n%s", err, out)
	}
	central := startProc(t, []string{"central", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0", "--tls-dir", tls, "--name", "central"})
	if _, err := testClient(central.url).Ingest(ctx, restrictedDocs); err != nil {
		t.Fatal(err)
	}
	g1 := gossipAddr(t, "127.0.0.31")
	edge := func(name, gossip string, extra ...string) (*proc, string) {
		data := t.TempDir()
		args := append([]string{"serve", "--data", data, "--http", "127.0.0.1:0", "--quic", "127.0.0.1:0", "--tls-dir", tls, "--name", name,
			"--central", central.quic, "--gossip", gossip, "--keyring", keyring, "--fleet-label", "auth-site", "--gossip-profile", "lan",
			"--query-timeout", "4s"}, extra...)
		return startProc(t, args), data
	}
	e1, d1 := edge("e1", g1, "--share", "pay")
	if _, err := testClient(e1.url).Ingest(ctx, restrictedDocs); err != nil {
		t.Fatal(err)
	}
	e2, d2 := edge("e2", gossipAddr(t, "127.0.0.32"), "--join", g1)

	t.Run("local", func(t *testing.T) {
		plain, hr := makeToken(t, e1.url, d1, "plain", "query", ""), makeToken(t, e1.url, d1, "hr-reader", "query", "hr")
		if secret, route := citesSecret(t, e1.url, plain); secret {
			t.Errorf("no groups, %s: the restricted document reached the token", route)
		}
		if secret, route := citesSecret(t, e1.url, hr); !secret || route != "local" {
			t.Errorf("hr, %s: the restricted document did not reach the token", route)
		}
	})
	plain, hr := makeToken(t, e2.url, d2, "plain", "query", ""), makeToken(t, e2.url, d2, "hr-reader", "query", "hr")
	t.Run("peer", func(t *testing.T) {
		// Until e2 sees e1 holding "pay" the question goes to central;
		// wait for the peer route.
		deadline := time.Now().Add(15 * time.Second)
		for {
			secret, route := citesSecret(t, e2.url, hr)
			if route == "peer:e1" {
				if !secret {
					t.Errorf("hr via the peer: the restricted document did not come back")
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("e2 never asked its peer e1 (last route %s)", route)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if secret, route := citesSecret(t, e2.url, plain); secret || !strings.HasPrefix(route, "peer:") && route != "central" {
			t.Errorf("no groups via %s: secret %v", route, secret)
		}
	})
	t.Run("central", func(t *testing.T) {
		e1.cmd.Process.Kill() // the peer gone, central is the one left to ask
		_ = e1.cmd.Wait()
		deadline := time.Now().Add(15 * time.Second)
		for {
			secret, route := citesSecret(t, e2.url, hr)
			if route == "central" {
				if !secret {
					t.Errorf("hr via central: the restricted document did not come back")
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("e2 never asked central (last route %s)", route)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if secret, route := citesSecret(t, e2.url, plain); secret || route != "central" {
			t.Errorf("no groups via %s: secret %v", route, secret)
		}
	})
}

// selfSigned writes a certificate for 127.0.0.1 and its key, PEM, to dir.
func selfSigned(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "api.crt"), filepath.Join(dir, "api.key")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// TestAPIOverTLS serves the API with --http-tls-cert/--http-tls-key: the
// ready file names an https URL, the CLI reaches it with --cacert, and a
// client that does not trust the certificate is refused by TLS itself.
func TestAPIOverTLS(t *testing.T) {
	cert, key := selfSigned(t, t.TempDir())
	data := t.TempDir()
	p := startNode(t, data, "--http-tls-cert", cert, "--http-tls-key", key)
	if !strings.HasPrefix(p.url, "https://") {
		t.Fatalf("ready file URL %q, want https", p.url)
	}
	out, err := exec.Command(binary, "query", "--node", p.url, "--data", data, "--cacert", cert, "--json", "what is a pump").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"route": "local"`) {
		t.Fatalf("query over TLS: %v\n%s", err, out)
	}
	out, err = exec.Command(binary, "query", "--node", p.url, "--data", data, "what is a pump").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "certificate") {
		t.Fatalf("query without --cacert: %v\n%s", err, out)
	}
}
