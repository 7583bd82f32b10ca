// Package queryrpc carries questions between nodes over the QUIC transport:
// the client an edge uses to ask central or a peer, and the handler with
// which central and peers answer. A forwarded question is answered where it
// lands and never forwarded again, so two unsure nodes cannot bounce it
// between them. node/agent wires the handler into the node's transport server;
// the node uses the client through its Remote interface.
package queryrpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/auth"
	"github.com/edgerag/edgerag/sync/transport"
	"github.com/edgerag/edgerag/sync/wire"
)

// request is the payload of a wire.TypeQuery request.
type request struct {
	Query api.QueryRequest `json:"query"`
	From  string           `json:"from"` // name of the asking node, for logs
	// Asker is who asked the asking node; nodes before access control
	// did not send it, and a node holding restricted documents refuses
	// their questions.
	Asker *asker `json:"asker,omitempty"`
}

// asker is the principal a forwarded question runs as where it lands: the
// answering node shows it only what these groups may see.
type asker struct {
	Name   string   `json:"name"`
	Groups []string `json:"groups"`
}

// Target is a node to ask: its QUIC address and the name its certificate
// must carry.
type Target struct {
	Name string
	Addr string
}

// Client asks other nodes.
type Client struct {
	tc   transport.Caller
	self string
}

// NewClient returns a client that calls through tc (a *transport.Client, or
// a *transport.Group that fails over between central's replicas) and names
// itself self.
func NewClient(tc transport.Caller, self string) *Client { return &Client{tc: tc, self: self} }

// Ask sends a question to target and returns its answer. The context's
// deadline and request id travel with it.
func (c *Client) Ask(ctx context.Context, target Target, q api.QueryRequest) (api.QueryResponse, error) {
	q.Stream = false
	// A context without a principal is an in-process caller (eval): it
	// asks with no groups, so it sees what everyone may see.
	p, _ := auth.FromContext(ctx)
	b, err := json.Marshal(request{Query: q, From: c.self, Asker: &asker{Name: p.Name, Groups: p.Groups}})
	if err != nil {
		return api.QueryResponse{}, fmt.Errorf("encode query: %w", err)
	}
	if id := api.RequestID(ctx); id != "" {
		ctx = transport.WithRequestID(ctx, id)
	}
	out, err := c.tc.Call(ctx, target.Addr, target.Name, wire.TypeQuery, b)
	if err != nil {
		return api.QueryResponse{}, fmt.Errorf("ask %s at %s: %w", target.Name, target.Addr, err)
	}
	var resp api.QueryResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return api.QueryResponse{}, fmt.Errorf("answer from %s: %w", target.Name, err)
	}
	return resp, nil
}

// Central is a node.Remote that escalates through c to one central node.
type Central struct {
	c      *Client
	target Target
}

// Central returns the remote that asks target as central.
func (c *Client) Central(target Target) Central { return Central{c: c, target: target} }

// AskCentral implements node.Remote.
func (r Central) AskCentral(ctx context.Context, q api.QueryRequest) (api.QueryResponse, error) {
	return r.c.Ask(ctx, r.target, q)
}

// ProbeCentral implements node.CentralProber: a ping, which central
// answers without searching anything.
func (r Central) ProbeCentral(ctx context.Context) error {
	if _, err := r.c.tc.Call(ctx, r.target.Addr, r.target.Name, wire.TypePing, nil); err != nil {
		return fmt.Errorf("ping %s at %s: %w", r.target.Name, r.target.Addr, err)
	}
	return nil
}

// CentralHeard implements node.CentralLiveness: the packets received so
// far on the connections to central, and whether one is open (0 and
// false when the transport cannot tell).
func (r Central) CentralHeard() (received uint64, open bool) {
	switch h := r.c.tc.(type) {
	case interface {
		Heard(serverName string) (uint64, bool)
	}:
		return h.Heard(r.target.Name)
	case interface {
		Heard(addr, serverName string) (uint64, bool)
	}:
		return h.Heard(r.target.Addr, r.target.Name)
	}
	return 0, false
}

// Answerer answers a forwarded question locally, without forwarding it.
type Answerer func(ctx context.Context, q api.QueryRequest) (api.QueryResponse, error)

// Handle serves a wire.TypeQuery request with answer. Bad payloads get a
// CodeBadRequest error that says what was wrong.
func Handle(ctx context.Context, peer transport.Peer, req wire.Frame, answer Answerer) ([]byte, error) {
	return HandleScoped(ctx, peer, req, answer, nil)
}

// Scope says which of this node's shards a peer's questions may search:
// scoped false for all of them. Central scopes an edge to the shards it
// published; an edge scopes another edge to its synced and shared shards.
type Scope func(peer transport.Peer) (shards []string, scoped bool)

// HandleScoped is Handle with the peer's questions limited by scope (nil:
// not limited).
func HandleScoped(ctx context.Context, peer transport.Peer, req wire.Frame, answer Answerer, scope Scope) ([]byte, error) {
	// encoding/json would silently turn invalid UTF-8 into U+FFFD and
	// answer a question nobody asked; the HTTP API refuses it too.
	if !utf8.Valid(req.Payload) {
		return nil, &transport.Error{Code: wire.CodeBadRequest, Message: "query payload is not valid UTF-8"}
	}
	var r request
	if err := json.Unmarshal(req.Payload, &r); err != nil {
		return nil, &transport.Error{Code: wire.CodeBadRequest, Message: fmt.Sprintf("query payload is not the expected JSON: %v", err)}
	}
	if err := api.ValidateQuery(&r.Query); err != nil {
		return nil, &transport.Error{Code: wire.CodeBadRequest, Message: err.Error()}
	}
	ctx = api.WithRequestID(ctx, transport.RequestID(ctx))
	ctx, err := withAsker(ctx, peer, r, scope)
	if err != nil {
		return nil, err
	}
	resp, err := answer(ctx, r.Query)
	if err != nil {
		// The caller's mistakes (a bad question, a shard this node does
		// not hold, a principal without the right) go back as such; the
		// rest is the node's failure.
		ae := api.AsError(err)
		if ae.Status == 401 || ae.Status == 403 {
			return nil, &transport.Error{Code: wire.CodeUnauthorized, Message: ae.Message}
		}
		if ae.Status < 500 && !errors.Is(err, context.Canceled) {
			return nil, &transport.Error{Code: wire.CodeBadRequest, Message: ae.Message}
		}
		return nil, err
	}
	return json.Marshal(resp)
}

// withAsker runs a forwarded question as the principal its request names,
// prefixed with the asking node's name; a request without one is
// unverified.
func withAsker(ctx context.Context, peer transport.Peer, r request, scope Scope) (context.Context, error) {
	from := peer.Name
	if from == "" {
		from = r.From
	}
	p := auth.Principal{Name: from + "/?", Role: auth.RoleQuery, Unverified: true}
	if scope != nil {
		p.Shards, p.Scoped = scope(peer)
		if r.Query.Shard != "" && !p.InScope(r.Query.Shard) {
			return ctx, &transport.Error{Code: wire.CodeUnauthorized, Message: fmt.Sprintf("shard %q is not available to %s (%s)", r.Query.Shard, from, peer.Role)}
		}
	}
	if r.Asker == nil {
		return auth.WithPrincipal(ctx, p), nil
	}
	groups, err := auth.NormalizeGroups(r.Asker.Groups)
	if err != nil {
		return ctx, &transport.Error{Code: wire.CodeBadRequest, Message: "asker: " + err.Error()}
	}
	name := r.Asker.Name
	if len(name) > auth.MaxNameLen || !utf8.ValidString(name) {
		name = "?"
	}
	// A peer whose certificate bounds the groups it may assert gets no
	// more than those, whatever it claims for its asker.
	p.Name, p.Groups, p.Unverified = from+"/"+name, peer.Groups.Intersect(groups), false
	return auth.WithPrincipal(ctx, p), nil
}
