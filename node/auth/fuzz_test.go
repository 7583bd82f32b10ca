package auth

import (
	"context"
	"net/http/httptest"
	"testing"
)

// FuzzVerify feeds arbitrary Authorization headers to the guard's parser:
// nothing but the one real token may verify, and nothing may panic.
func FuzzVerify(f *testing.F) {
	ctx := context.Background()
	toks, err := OpenTokens(ctx, openKV(f, f.TempDir()), nil)
	if err != nil {
		f.Fatal(err)
	}
	real, _, err := toks.Create(ctx, "only", RoleQuery, nil, "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	g := &Guard{Tokens: toks}
	for _, s := range []string{"", "Bearer ", "Bearer " + real, "bearer " + real + " ", "Basic abc", "Bearer edgerag_0000000000000000_" + real[25:], real} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest("GET", "/v1/status", nil)
		r.Header.Set("Authorization", header)
		p, err := g.principal(r)
		if err == nil && p.Name != "only" {
			t.Fatalf("%q verified as %+v", header, p)
		}
	})
}
