package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/edgerag/edgerag/node/api"
)

// Required returns the role a request needs, from its method and path
// alone, before anything else of it is read. Paths are matched exactly;
// anything not listed needs admin, so that a route added later is closed
// until someone decides otherwise.
func Required(method, path string) Role {
	switch path {
	case "/healthz", "/readyz":
		return RoleNone
	}
	switch method {
	case http.MethodGet, http.MethodHead:
		switch path {
		case "/", "/metrics", "/v1/status", "/v1/fleet", "/v1/sync", "/api/tags", "/api/version", "/api/ps", "/v1/models":
			return RoleQuery
		}
		if strings.HasPrefix(path, "/v1/models/") {
			return RoleQuery
		}
		if strings.HasPrefix(path, "/v1/jobs/") {
			return RoleIngest // the progress of an async ingest
		}
	case http.MethodPost:
		switch path {
		case "/v1/query", "/api/chat", "/api/generate", "/api/show", "/api/pull", "/api/embed", "/api/embeddings",
			"/v1/chat/completions", "/v1/completions", "/v1/responses", "/v1/embeddings":
			return RoleQuery
		case "/v1/documents":
			return RoleIngest
		}
	case http.MethodDelete:
		if strings.HasPrefix(path, "/v1/documents/") {
			return RoleIngest
		}
	}
	// Ollama endpoints a node does not serve answer 404 in Ollama's shape
	// to whoever may use the ones it does, so clients learn that they are
	// not there rather than that they lack a role.
	switch path {
	case "/api/create", "/api/copy", "/api/delete", "/api/push":
		return RoleQuery
	}
	if strings.HasPrefix(path, "/api/blobs/") {
		return RoleQuery
	}
	return RoleAdmin
}

// Guard checks every request's credential before its body is read and runs
// it as the principal the credential names.
type Guard struct {
	Tokens *Tokens
	Audit  *Audit // nil: no audit log
	// Anonymous is the role of requests without a token; RoleNone (the
	// default) refuses them. At most RoleQuery makes sense: anonymous
	// clients see only documents without groups.
	Anonymous Role
	Log       *slog.Logger // nil: discard
}

// Wrap returns next behind the guard.
func (g *Guard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		need := Required(r.Method, r.URL.Path)
		if need == RoleNone {
			next.ServeHTTP(w, r)
			return
		}
		p, err := g.principal(r)
		if err != nil {
			g.Audit.Record(Event{Kind: EventBadToken, Action: r.Method + " " + r.URL.Path, Detail: err.Error(), Remote: r.RemoteAddr})
			w.Header().Set("WWW-Authenticate", `Bearer realm="edgerag"`)
			api.WriteErrorFor(w, r.URL.Path, api.Errorf(http.StatusUnauthorized, api.CodeUnauthorized, "%v", err))
			return
		}
		if !p.Role.Allows(need) {
			g.Audit.Record(Event{Kind: EventDenied, Principal: p.Name, Action: r.Method + " " + r.URL.Path,
				Detail: "role " + p.Role.String() + ", needs " + need.String(), Remote: r.RemoteAddr})
			if p.Name == Anonymous {
				w.Header().Set("WWW-Authenticate", `Bearer realm="edgerag"`)
				api.WriteErrorFor(w, r.URL.Path, api.Errorf(http.StatusUnauthorized, api.CodeUnauthorized,
					"%s %s needs a token with role %s: send Authorization: Bearer TOKEN (edgerag token create)", r.Method, r.URL.Path, need))
				return
			}
			api.WriteErrorFor(w, r.URL.Path, api.Errorf(http.StatusForbidden, api.CodeForbidden,
				"token %q has role %s; %s %s needs %s", p.Name, p.Role, r.Method, r.URL.Path, need))
			return
		}
		r = r.WithContext(WithPrincipal(r.Context(), p))
		if need < RoleAdmin || g.Audit == nil {
			next.ServeHTTP(w, r)
			return
		}
		rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		g.Audit.Record(Event{Kind: EventAdmin, Principal: p.Name, Action: r.Method + " " + r.URL.Path,
			Detail: "status " + strconv.Itoa(rec.status), Remote: r.RemoteAddr})
	})
}

var errNoToken = errors.New("no credential: send Authorization: Bearer TOKEN (the node wrote an admin token to DATA/admin.token on first start; 'edgerag token create' makes more)")

// principal reads the request's credential.
func (g *Guard) principal(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		if g.Anonymous > RoleNone {
			return Principal{Name: Anonymous, Role: g.Anonymous}, nil
		}
		return Principal{}, errNoToken
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return Principal{}, errors.New(`the Authorization header must read "Bearer TOKEN"`)
	}
	return g.Tokens.Verify(strings.TrimSpace(tok))
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Routes adds the token and audit endpoints to h. Required makes both
// admin-only.
func (g *Guard) Routes(h interface {
	Handle(pattern string, handler http.Handler)
}) {
	h.Handle("POST /v1/tokens", http.HandlerFunc(g.create))
	h.Handle("GET /v1/tokens", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		api.WriteJSON(w, http.StatusOK, map[string][]TokenInfo{"tokens": g.Tokens.List()})
	}))
	h.Handle("DELETE /v1/tokens/{name}", http.HandlerFunc(g.revoke))
	h.Handle("GET /v1/audit", http.HandlerFunc(g.audit))
}

// CreateRequest asks for a token.
type CreateRequest struct {
	Name   string   `json:"name"`
	Role   string   `json:"role"`
	Groups []string `json:"groups,omitempty"`
}

// CreateResponse carries a new token; its secret is shown this once.
type CreateResponse struct {
	Token string    `json:"token"`
	Info  TokenInfo `json:"info"`
}

func (g *Guard) create(w http.ResponseWriter, r *http.Request) {
	var req CreateRequest
	if !api.DecodeJSON(w, r, 64<<10, &req) {
		return
	}
	role, err := ParseRole(req.Role)
	if err == nil && role == RoleNone {
		err = errors.New(`role "none": a token is query, ingest or admin`)
	}
	if err != nil {
		api.WriteError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, "%v", err))
		return
	}
	by, _ := FromContext(r.Context())
	tok, info, err := g.Tokens.Create(r.Context(), req.Name, role, req.Groups, by.Name)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	g.Audit.Record(Event{Kind: EventAdmin, Principal: by.Name, Action: "token create",
		Detail: info.Name + " role " + info.Role.String() + " groups " + strings.Join(info.Groups, ","), Remote: r.RemoteAddr})
	api.WriteJSON(w, http.StatusOK, CreateResponse{Token: tok, Info: info})
}

func (g *Guard) revoke(w http.ResponseWriter, r *http.Request) {
	info, err := g.Tokens.Revoke(r.Context(), r.PathValue("name"))
	if err != nil {
		api.WriteError(w, err)
		return
	}
	by, _ := FromContext(r.Context())
	g.Audit.Record(Event{Kind: EventRevocation, Principal: by.Name, Action: "token revoke", Detail: info.Name, Remote: r.RemoteAddr})
	api.WriteJSON(w, http.StatusOK, map[string]TokenInfo{"revoked": info})
}

func (g *Guard) audit(w http.ResponseWriter, r *http.Request) {
	if g.Audit == nil {
		api.WriteJSON(w, http.StatusOK, map[string][]Event{"events": {}})
		return
	}
	q := r.URL.Query()
	limit := 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			api.WriteError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, "limit %q: a number from 1 to 10000", s))
			return
		}
		limit = n
	}
	g.Audit.Flush(r.Context())
	after := uint64(0)
	if last := g.Audit.Last(); last > uint64(limit) {
		after = last - uint64(limit)
	}
	if s := q.Get("after"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			api.WriteError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, "after %q: an event seq number", s))
			return
		}
		after = n
	}
	ev, err := g.Audit.Read(r.Context(), after, limit)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	if ev == nil {
		ev = []Event{}
	}
	api.WriteJSON(w, http.StatusOK, map[string][]Event{"events": ev})
}

// RecordEscalation logs a question leaving for, or arriving from, another
// node with the principal that asked it.
func (a *Audit) RecordEscalation(ctx context.Context, direction, node string) {
	if a == nil {
		return
	}
	p, _ := FromContext(ctx)
	a.Record(Event{Kind: EventEscalation, Principal: p.Name, Action: direction, Remote: node,
		Detail: "groups " + strings.Join(p.Groups, ",")})
}
