package agent

import (
	"bytes"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/admission"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/auth"
)

// fastShed is the API server's Shed (api.Server): a query, while the
// node's retrieval gate is full and it has nowhere to send it
// (Node.ShedEarly), is refused with the node's prebuilt 429 below
// net/http. The guard's rule comes first, as in the handler: only a
// request whose credential allows a query is refused here; one without
// a credential, or with a bad one, goes through net/http to the guard,
// which answers 401 or 403 and audits it, under overload too.
func fastShed(g *auth.Guard, n *node.Node) func(method, target, authorization []byte, client string) *api.Prebuilt {
	need := auth.Required(http.MethodPost, "/v1/query")
	var creds credCache
	return func(method, target, authorization []byte, client string) *api.Prebuilt {
		if string(method) != http.MethodPost || string(target) != "/v1/query" || !creds.mayQuery(g, need, authorization) {
			return nil
		}
		p, _ := n.ShedEarly(admission.Retrieval, client).(*api.Prebuilt)
		return p
	}
}

// credCache remembers for a second the credentials that may query, so
// that a flood of refusals does not hash every token (the check costs
// about as much as the rest of a refusal above the system calls). A
// token revoked during that second still gets refusals, never answers:
// nothing is served from the cache.
type credCache struct {
	slots [16]atomic.Pointer[credEntry]
}

type credEntry struct {
	authorization string
	until         int64 // unix nanoseconds
}

const credTTL = time.Second

func (c *credCache) mayQuery(g *auth.Guard, need auth.Role, authorization []byte) bool {
	if len(authorization) == 0 {
		return g.Anonymous.Allows(need)
	}
	now := time.Now().UnixNano()
	slot := &c.slots[authorization[len(authorization)-1]&15]
	if e := slot.Load(); e != nil && now < e.until && string(authorization) == e.authorization {
		return true
	}
	if !verify(g, need, authorization) {
		return false
	}
	slot.Store(&credEntry{authorization: string(authorization), until: now + int64(credTTL)})
	return true
}

// verify is the guard's decision for a credential, without a request:
// what Guard.Wrap lets through to the handler.
func verify(g *auth.Guard, need auth.Role, authorization []byte) bool {
	scheme, tok, ok := bytes.Cut(authorization, []byte(" "))
	if !ok || !strings.EqualFold(string(scheme), "Bearer") {
		return false
	}
	p, err := g.Tokens.Verify(strings.TrimSpace(string(tok)))
	return err == nil && p.Role.Allows(need)
}
