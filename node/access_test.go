package node_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/auth"
)

// restricted holds a public manual and two restricted ones that answer the
// same question better than it does.
var restricted = []api.Document{
	{ID: "pump-public", Title: "Pump P-100", Body: "The pump P-100 moves coolant through the plant."},
	{ID: "pump-salary", Title: "Pump team pay", Groups: []string{"hr"}, Body: "The pump P-100 team is paid a bonus of 4,000 euros for the coolant pump overhaul."},
	{ID: "pump-incident", Title: "Pump incident", Groups: []string{"safety", "ops"}, Body: "The pump P-100 coolant pump leaked during the overhaul; the incident code is ZX-9."},
}

func as(groups ...string) context.Context {
	return auth.WithPrincipal(context.Background(), auth.Principal{Name: "t", Role: auth.RoleQuery, Groups: groups})
}

// docsSeen returns the documents a query's retrieval and answer mention.
func docsSeen(t *testing.T, ctx context.Context, q interface {
	Query(context.Context, api.QueryRequest) (api.QueryResponse, error)
}) map[string]bool {
	t.Helper()
	resp, err := q.Query(ctx, api.QueryRequest{Question: "pump P-100 coolant overhaul bonus incident", K: 10})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range resp.Citations {
		seen[c.DocumentID] = true
	}
	for _, secret := range []string{"4,000", "ZX-9"} {
		if strings.Contains(resp.Answer, secret) {
			seen["answer:"+secret] = true
		}
	}
	return seen
}

func TestRestrictedDocumentsOnlyReachTheirGroups(t *testing.T) {
	dir := t.TempDir()
	n := newNode(t, dir)
	admin := auth.WithPrincipal(context.Background(), auth.Principal{Name: "a", Role: auth.RoleAdmin})
	if _, err := n.Ingest(admin, restricted); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		ctx  context.Context
		want []string
	}{
		{"no principal", context.Background(), []string{"pump-public"}},
		{"no groups", as(), []string{"pump-public"}},
		{"hr", as("hr"), []string{"pump-public", "pump-salary"}},
		{"ops", as("ops"), []string{"pump-public", "pump-incident"}},
		{"hr and safety", as("hr", "safety"), []string{"pump-public", "pump-salary", "pump-incident"}},
	} {
		seen := docsSeen(t, c.ctx, n)
		for _, d := range []string{"pump-public", "pump-salary", "pump-incident"} {
			if want := strings.Contains(strings.Join(c.want, " "), d); seen[d] != want {
				t.Errorf("%s: saw %s = %v, want %v (%v)", c.name, d, seen[d], want, seen)
			}
		}
		if !strings.Contains(strings.Join(c.want, " "), "pump-salary") && seen["answer:4,000"] {
			t.Errorf("%s: the answer quotes a restricted document", c.name)
		}
	}
	// A forwarded question without the asker's groups is refused.
	unverified := auth.WithPrincipal(context.Background(), auth.Principal{Name: "peer/?", Role: auth.RoleQuery, Unverified: true})
	if _, err := n.QueryLocal(unverified, api.QueryRequest{Question: "pump"}); err == nil || api.AsError(err).Status != http.StatusForbidden {
		t.Fatalf("unverified question: %v", err)
	}
	// The restriction survives a restart, and replacing the document
	// without groups lifts it.
	n.Close()
	n = newNode(t, dir)
	if seen := docsSeen(t, as(), n); seen["pump-salary"] || !seen["pump-public"] {
		t.Fatalf("after restart: %v", seen)
	}
	pub := restricted[1]
	pub.Groups = nil
	if _, err := n.Ingest(admin, []api.Document{pub}); err != nil {
		t.Fatal(err)
	}
	if seen := docsSeen(t, as(), n); !seen["pump-salary"] {
		t.Fatalf("unrestricted again: %v", seen)
	}
	if _, err := n.Delete(admin, "", "pump-incident"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.QueryLocal(unverified, api.QueryRequest{Question: "pump"}); err != nil {
		t.Fatalf("no restricted document left, yet: %v", err)
	}
}

func TestIngestGroupsAreTheTokensOwn(t *testing.T) {
	n := newNode(t, t.TempDir())
	ingester := auth.WithPrincipal(context.Background(), auth.Principal{Name: "i", Role: auth.RoleIngest, Groups: []string{"ops"}})
	if _, err := n.Ingest(ingester, []api.Document{restricted[1]}); api.AsError(err).Status != http.StatusForbidden {
		t.Fatalf("ingest into a group the token lacks: %v", err)
	}
	if _, err := n.Ingest(ingester, []api.Document{{ID: "x", Body: "text", Groups: []string{"ops"}}}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []api.Document{
		{ID: "y", Body: "text", Metadata: map[string]string{"edgerag:groups": "ops"}},
		{ID: "z", Body: "text", Groups: []string{"Not Valid"}},
	} {
		if _, err := n.Ingest(context.Background(), []api.Document{d}); api.AsError(err).Status != http.StatusBadRequest {
			t.Errorf("%+v: %v", d, err)
		}
	}
}

func TestStatusShowsRecentQuestionsToAdminsOnly(t *testing.T) {
	n := newNode(t, t.TempDir())
	if _, err := n.Ingest(context.Background(), manuals); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Query(as(), api.QueryRequest{Question: "what oil does the press use"}); err != nil {
		t.Fatal(err)
	}
	st, _ := n.Status(as())
	if len(st.Recent) != 0 {
		t.Fatalf("a query token sees recent questions: %+v", st.Recent)
	}
	st, _ = n.Status(auth.WithPrincipal(context.Background(), auth.Principal{Name: "a", Role: auth.RoleAdmin}))
	if len(st.Recent) != 1 {
		t.Fatalf("admin: %d recent", len(st.Recent))
	}
}
