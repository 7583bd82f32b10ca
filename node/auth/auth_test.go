package auth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/shardstore"
)

// openKV opens a real store's auth key space in a temporary directory.
func openKV(t testing.TB, dir string) KV {
	t.Helper()
	st, err := shardstore.Open(shardstore.Options{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return StoreKV(st.AuthKV())
}

func TestRequired(t *testing.T) {
	for _, c := range []struct {
		method, path string
		want         Role
	}{
		{"GET", "/healthz", RoleNone},
		{"GET", "/readyz", RoleNone},
		{"GET", "/", RoleQuery},
		{"GET", "/metrics", RoleQuery},
		{"GET", "/v1/status", RoleQuery},
		{"POST", "/v1/query", RoleQuery},
		{"POST", "/api/chat", RoleQuery},
		{"POST", "/v1/chat/completions", RoleQuery},
		{"GET", "/v1/models/edgerag", RoleQuery},
		{"POST", "/v1/responses", RoleQuery},
		{"POST", "/api/generate", RoleQuery},
		{"POST", "/v1/embeddings", RoleQuery},
		{"GET", "/api/ps", RoleQuery},
		{"POST", "/api/create", RoleQuery},
		{"DELETE", "/api/delete", RoleQuery},
		{"GET", "/v1/flagged", RoleAdmin},
		{"POST", "/v1/documents", RoleIngest},
		{"DELETE", "/v1/documents/a", RoleIngest},
		{"GET", "/v1/documents", RoleAdmin},
		{"POST", "/v1/publish", RoleAdmin},
		{"POST", "/v1/rollout", RoleAdmin},
		{"POST", "/v1/sync", RoleAdmin},
		{"POST", "/v1/fleet/keys", RoleAdmin},
		{"POST", "/v1/tokens", RoleAdmin},
		{"GET", "/v1/tokens", RoleAdmin},
		{"GET", "/v1/audit", RoleAdmin},
		{"POST", "/v1/shards/manuals/rollback", RoleAdmin},
		{"GET", "/healthz/../v1/publish", RoleAdmin},
		{"GET", "/unknown", RoleAdmin},
	} {
		if got := Required(c.method, c.path); got != c.want {
			t.Errorf("%s %s: %v, want %v", c.method, c.path, got, c.want)
		}
	}
}

func TestCanSee(t *testing.T) {
	for _, c := range []struct {
		principal, doc []string
		want           bool
	}{
		{nil, nil, true},
		{[]string{"hr"}, nil, true},
		{nil, []string{"hr"}, false},
		{[]string{"ops"}, []string{"hr"}, false},
		{[]string{"hr"}, []string{"hr"}, true},
		{[]string{"a", "hr", "z"}, []string{"b", "hr"}, true},
		{[]string{"a", "c"}, []string{"b", "d"}, false},
	} {
		if got := CanSee(c.principal, c.doc); got != c.want {
			t.Errorf("CanSee(%v, %v) = %v", c.principal, c.doc, got)
		}
	}
}

func TestNormalizeGroups(t *testing.T) {
	g, err := ParseGroupList("hr, ops,hr")
	if err != nil || strings.Join(g, ",") != "hr,ops" {
		t.Fatalf("%v %v", g, err)
	}
	for _, bad := range []string{"HR", "a b", ",", "-x"} {
		if _, err := ParseGroupList(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestTokensCreateVerifyRevokePersist(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := shardstore.Open(shardstore.Options{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	toks, err := OpenTokens(ctx, StoreKV(st.AuthKV()), nil)
	if err != nil {
		t.Fatal(err)
	}
	secret, info, err := toks.Create(ctx, "reader", RoleQuery, []string{"ops", "hr"}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if info.Role != RoleQuery || strings.Join(info.Groups, ",") != "hr,ops" {
		t.Fatalf("info %+v", info)
	}
	if _, _, err := toks.Create(ctx, "reader", RoleAdmin, nil, "admin"); !strings.Contains(err.Error(), "exists") {
		t.Fatalf("duplicate name: %v", err)
	}
	p, err := toks.Verify(secret)
	if err != nil || p.Name != "reader" || p.Role != RoleQuery || len(p.Groups) != 2 {
		t.Fatalf("verify: %+v %v", p, err)
	}
	// One changed character of the secret, and other junk, is refused.
	flip := []byte(secret)
	if flip[len(flip)-1] == '0' {
		flip[len(flip)-1] = '1'
	} else {
		flip[len(flip)-1] = '0'
	}
	for _, bad := range []string{string(flip), "", "edgerag_", secret + "0", strings.ToUpper(secret)} {
		if _, err := toks.Verify(bad); !errors.Is(err, ErrBadToken) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	// The secret is not in the store: only its hash.
	raw := ""
	_ = StoreKV(st.AuthKV()).Scan(ctx, "", false, func(_ string, v []byte) error { raw += string(v); return nil })
	if strings.Contains(raw, secret[len(secret)-64:]) {
		t.Fatal("the token's secret is stored in clear")
	}
	st.Close()

	st, err = shardstore.Open(shardstore.Options{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	toks, err = OpenTokens(ctx, StoreKV(st.AuthKV()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := toks.Verify(secret); err != nil {
		t.Fatalf("after reopen: %v", err)
	}
	if _, err := toks.Revoke(ctx, "reader"); err != nil {
		t.Fatal(err)
	}
	if _, err := toks.Verify(secret); !errors.Is(err, ErrBadToken) {
		t.Fatalf("revoked token verified: %v", err)
	}
	if _, err := toks.Revoke(ctx, "reader"); err == nil {
		t.Fatal("second revoke succeeded")
	}
}

func TestBootstrapWritesPrivateFileOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	toks, err := OpenTokens(ctx, openKV(t, filepath.Join(dir, "db")), nil)
	if err != nil {
		t.Fatal(err)
	}
	path, err := Bootstrap(ctx, toks, dir, nil)
	if err != nil || path != filepath.Join(dir, TokenFile) {
		t.Fatalf("%q %v", path, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", fi.Mode(), err)
	}
	tok, err := ReadTokenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := toks.Verify(tok); err != nil || p.Role != RoleAdmin {
		t.Fatalf("%+v %v", p, err)
	}
	if again, err := Bootstrap(ctx, toks, dir, nil); again != "" || err != nil {
		t.Fatalf("second bootstrap %q %v", again, err)
	}
}

func TestAuditBoundedAndRateLimited(t *testing.T) {
	ctx := context.Background()
	a, err := OpenAudit(ctx, openKV(t, t.TempDir()), 50, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 80; i++ {
		a.Record(Event{Kind: EventAdmin, Action: "x"})
		if i%10 == 0 {
			a.Flush(ctx)
		}
	}
	for i := 0; i < 100; i++ {
		a.Record(Event{Kind: EventBadToken, Action: "y"})
	}
	a.Flush(ctx)
	ev, err := a.Read(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) != 50 || ev[len(ev)-1].Seq != 80+failureRate {
		t.Fatalf("%d events, last seq %d", len(ev), ev[len(ev)-1].Seq)
	}
	a.Record(Event{Kind: EventBadToken, Action: "later"}) // same second: still over the rate
	a.Flush(ctx)
	if a.Last() != 80+failureRate {
		t.Fatalf("last %d", a.Last())
	}
}

// guarded serves a handler behind a guard with an admin, an ingest and a
// query token, and returns them.
func guarded(t *testing.T, anon Role, next http.Handler) (*httptest.Server, map[Role]string, *Guard) {
	t.Helper()
	ctx := context.Background()
	kv := openKV(t, t.TempDir())
	toks, err := OpenTokens(ctx, kv, nil)
	if err != nil {
		t.Fatal(err)
	}
	audit, err := OpenAudit(ctx, kv, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[Role]string{}
	for _, r := range []Role{RoleQuery, RoleIngest, RoleAdmin} {
		s, _, err := toks.Create(ctx, r.String()+"-tok", r, []string{"ops"}, "test")
		if err != nil {
			t.Fatal(err)
		}
		secrets[r] = s
	}
	g := &Guard{Tokens: toks, Audit: audit, Anonymous: anon}
	srv := httptest.NewServer(g.Wrap(next))
	t.Cleanup(srv.Close)
	return srv, secrets, g
}

// bodyProbe records whether the handler behind the guard ran.
type bodyProbe struct{ ran bool }

func (b *bodyProbe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.ran = true
	_, _ = io.Copy(io.Discard, r.Body)
	p, _ := FromContext(r.Context())
	api.WriteJSON(w, http.StatusOK, map[string]string{"principal": p.Name})
}

func do(t *testing.T, method, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(`{}`))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestGuardRefusesBeforeTheHandler(t *testing.T) {
	probe := &bodyProbe{}
	srv, tok, g := guarded(t, RoleNone, probe)
	for _, c := range []struct {
		method, path, token string
		want                int
		code                string
	}{
		{"POST", "/v1/query", "", 401, api.CodeUnauthorized},
		{"POST", "/v1/query", "edgerag_junk", 401, api.CodeUnauthorized},
		{"POST", "/v1/query", tok[RoleQuery], 200, ""},
		{"POST", "/v1/documents", tok[RoleQuery], 403, api.CodeForbidden},
		{"POST", "/v1/documents", tok[RoleIngest], 200, ""},
		{"POST", "/v1/publish", tok[RoleIngest], 403, api.CodeForbidden},
		{"POST", "/v1/fleet/keys", tok[RoleQuery], 403, api.CodeForbidden},
		{"POST", "/v1/publish", tok[RoleAdmin], 200, ""},
		{"GET", "/metrics", "", 401, api.CodeUnauthorized},
		{"GET", "/", tok[RoleQuery], 200, ""},
		{"GET", "/healthz", "", 200, ""},
	} {
		probe.ran = false
		status, body := do(t, c.method, srv.URL+c.path, c.token)
		if status != c.want {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, status, body, c.want)
			continue
		}
		if c.code != "" {
			var e struct{ Error api.Error }
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code != c.code || e.Error.Message == "" {
				t.Errorf("%s %s: body %s", c.method, c.path, body)
			}
			if probe.ran {
				t.Errorf("%s %s: the handler ran for a refused request", c.method, c.path)
			}
		}
	}
	g.Audit.Flush(context.Background())
	ev, _ := g.Audit.Read(context.Background(), 0, 100)
	kinds := map[string]int{}
	for _, e := range ev {
		kinds[e.Kind]++
	}
	if kinds[EventBadToken] != 3 || kinds[EventDenied] != 3 || kinds[EventAdmin] != 1 {
		t.Fatalf("audit kinds %v", kinds)
	}
}

func TestGuardAnonymousQuery(t *testing.T) {
	probe := &bodyProbe{}
	srv, _, _ := guarded(t, RoleQuery, probe)
	if status, body := do(t, "POST", srv.URL+"/v1/query", ""); status != 200 || !strings.Contains(body, Anonymous) {
		t.Fatalf("%d %s", status, body)
	}
	if status, body := do(t, "POST", srv.URL+"/v1/documents", ""); status != 401 {
		t.Fatalf("anonymous ingest: %d %s", status, body)
	}
}

func TestTokenEndpoints(t *testing.T) {
	ctx := context.Background()
	kv := openKV(t, t.TempDir())
	toks, _ := OpenTokens(ctx, kv, nil)
	audit, _ := OpenAudit(ctx, kv, 0, nil, nil)
	admin, _, _ := toks.Create(ctx, "root", RoleAdmin, nil, "test")
	g := &Guard{Tokens: toks, Audit: audit}
	mux := http.NewServeMux()
	g.Routes(mux)
	srv := httptest.NewServer(g.Wrap(mux))
	defer srv.Close()
	post := func(body, token string) (int, string) {
		req, _ := http.NewRequest("POST", srv.URL+"/v1/tokens", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := post(`{"name":"hr-reader","role":"query","groups":["hr"]}`, admin)
	var cr CreateResponse
	if status != 200 || json.Unmarshal([]byte(body), &cr) != nil || cr.Info.Name != "hr-reader" {
		t.Fatalf("%d %s", status, body)
	}
	// The new query token may not make tokens: no escalation.
	if status, body := post(`{"name":"x","role":"admin"}`, cr.Token); status != 403 {
		t.Fatalf("query token created a token: %d %s", status, body)
	}
	for _, bad := range []string{`{"name":"Bad Name","role":"query"}`, `{"name":"a","role":"root"}`, `{"name":"a","role":"none"}`, `{"name":"hr-reader","role":"query"}`} {
		if status, body := post(bad, admin); status/100 != 4 || !strings.Contains(body, `"code"`) {
			t.Errorf("%s: %d %s", bad, status, body)
		}
	}
	if status, body := do(t, "GET", srv.URL+"/v1/tokens", admin); status != 200 || strings.Contains(body, "sha256") || !strings.Contains(body, "hr-reader") {
		t.Fatalf("list: %d %s", status, body)
	}
	if status, body := do(t, "DELETE", srv.URL+"/v1/tokens/hr-reader", admin); status != 200 {
		t.Fatalf("revoke: %d %s", status, body)
	}
	if status, _ := do(t, "GET", srv.URL+"/v1/status", cr.Token); status != 401 {
		t.Fatalf("revoked token: %d", status)
	}
	status, body = do(t, "GET", srv.URL+"/v1/audit", admin)
	if status != 200 || !strings.Contains(body, `"revocation"`) || !strings.Contains(body, `"token create"`) {
		t.Fatalf("audit: %d %s", status, body)
	}
}

func TestCheckPlainHTTP(t *testing.T) {
	for _, c := range []struct {
		addr          string
		tls, insecure bool
		ok            bool
	}{
		{"127.0.0.1:8080", false, false, true},
		{"127.3.4.5:0", false, false, true},
		{"[::1]:8080", false, false, true},
		{"localhost:8080", false, false, true},
		{":8080", false, false, false},
		{"0.0.0.0:8080", false, false, false},
		{"192.168.1.20:8080", false, false, false},
		{"192.168.1.20:8080", true, false, true},
		{"0.0.0.0:8080", false, true, true},
		{"nonsense", false, false, false},
	} {
		err := CheckPlainHTTP(c.addr, c.tls, c.insecure)
		if (err == nil) != c.ok {
			t.Errorf("%s tls=%v insecure=%v: %v", c.addr, c.tls, c.insecure, err)
		}
		if err != nil && c.addr != "nonsense" && !strings.Contains(err.Error(), "--insecure-http") {
			t.Errorf("%s: the message does not say how to proceed: %v", c.addr, err)
		}
	}
}
