package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/edgerag/edgerag/sync/rollout"
)

// The routes below are served by packages that import this one (node/auth,
// node/membership, sync/fleet through node/agent), so their answers' types
// live there: these methods build the request and decode the answer into
// the value out the caller passes.

// Document returns a document with its chunks; shardName "" is the
// node's default shard.
func (c *Client) Document(ctx context.Context, id, shardName string) (DocumentDetail, error) {
	var d DocumentDetail
	p := "/v1/documents/" + url.PathEscape(id)
	if shardName != "" {
		p += "?shard=" + url.QueryEscape(shardName)
	}
	return d, c.Call(ctx, http.MethodGet, p, nil, &d)
}

// Documents lists the documents of a shard by id, a page of the API at a
// time: all of them, or the first limit when limit > 0.
func (c *Client) Documents(ctx context.Context, shardName string, limit int) ([]DocumentInfo, error) {
	var all []DocumentInfo
	after := ""
	for {
		page := MaxListLimit
		if limit > 0 {
			page = min(page, limit-len(all))
		}
		q := url.Values{"limit": {strconv.Itoa(page)}}
		if shardName != "" {
			q.Set("shard", shardName)
		}
		if after != "" {
			q.Set("after", after)
		}
		var l DocumentList
		if err := c.Call(ctx, http.MethodGet, "/v1/documents?"+q.Encode(), nil, &l); err != nil {
			return nil, err
		}
		all = append(all, l.Documents...)
		if l.Next == "" || (limit > 0 && len(all) >= limit) {
			return all, nil
		}
		after = l.Next
	}
}

// Rollback is an edge's answer to a shard rollback.
type Rollback struct {
	Shard    string `json:"shard"`
	From, To uint64
}

// RollbackShard returns a synced shard of an edge to its previous version.
func (c *Client) RollbackShard(ctx context.Context, name string) (Rollback, error) {
	var r Rollback
	return r, c.Call(ctx, http.MethodPost, "/v1/shards/"+url.PathEscape(name)+"/rollback", nil, &r)
}

// ModelsRollback is an edge's answer to a model manifest rollback.
type ModelsRollback struct {
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

// RollbackModels returns an edge to the model manifest it applied before
// the current one.
func (c *Client) RollbackModels(ctx context.Context) (ModelsRollback, error) {
	var r ModelsRollback
	return r, c.Call(ctx, http.MethodPost, "/v1/models/rollback", nil, &r)
}

// ModelsHistory returns central's model manifests, newest first, with
// their rollout, as central sent them (sync/fleet.ModelsHistory).
func (c *Client) ModelsHistory(ctx context.Context) (json.RawMessage, error) {
	var raw json.RawMessage
	return raw, c.Call(ctx, http.MethodGet, "/v1/models/history", nil, &raw)
}

// Rollout promotes or halts (action) the staged rollout of a shard on
// central, saying why.
func (c *Client) Rollout(ctx context.Context, shardName, action, reason string) (rollout.State, error) {
	var st rollout.State
	return st, c.Call(ctx, http.MethodPost, "/v1/rollout", map[string]string{"shard": shardName, "action": action, "reason": reason}, &st)
}

// SyncNow asks an edge to poll central for new versions at once.
func (c *Client) SyncNow(ctx context.Context) error {
	return c.Call(ctx, http.MethodPost, "/v1/sync", nil, nil)
}

// SyncStatus returns the fleet sync status as the node sent it: an edge's
// (sync/fleet.EdgeStatus) or central's (CentralStatus), told apart by
// its "role".
func (c *Client) SyncStatus(ctx context.Context) (json.RawMessage, error) {
	var raw json.RawMessage
	return raw, c.Call(ctx, http.MethodGet, "/v1/sync", nil, &raw)
}

// PublishRequest is the body of POST /v1/publish: exactly one of a shard
// (with the lowest version edges may roll back to), a fleet config or a
// model set.
type PublishRequest struct {
	Shard      string            `json:"shard,omitempty"`
	MinVersion uint64            `json:"min_version,omitempty"`
	Config     map[string]string `json:"config"`
	Models     []string          `json:"models"`
	// Collect asks central to delete the versions no edge can still need,
	// keeping the Keep newest of each shard (0: its default).
	Collect bool `json:"collect,omitempty"`
	Keep    int  `json:"keep,omitempty"`
}

// Publish asks central to cut a version of what req names; out receives
// the answer (sync/fleet's Published, PublishedConfig or PublishedModels).
func (c *Client) Publish(ctx context.Context, req PublishRequest, out any) error {
	return c.Call(ctx, http.MethodPost, "/v1/publish", req, out)
}

// Fleet decodes the members of the node's gossip pool into out
// (membership.Fleet).
func (c *Client) Fleet(ctx context.Context, out any) error {
	return c.Call(ctx, http.MethodGet, "/v1/fleet", nil, out)
}

// Keys runs a keyring operation (membership.KeyRequest) across the gossip
// pool; out receives the members' answers (membership.KeyResult).
func (c *Client) Keys(ctx context.Context, req, out any) error {
	return c.Call(ctx, http.MethodPost, "/v1/fleet/keys", req, out)
}

// CreateToken creates an API token (auth.CreateRequest); out receives it
// (auth.CreateResponse), shown only this once.
func (c *Client) CreateToken(ctx context.Context, req, out any) error {
	return c.Call(ctx, http.MethodPost, "/v1/tokens", req, out)
}

// Tokens decodes the node's API tokens into out ({"tokens": [auth.TokenInfo]}).
func (c *Client) Tokens(ctx context.Context, out any) error {
	return c.Call(ctx, http.MethodGet, "/v1/tokens", nil, out)
}

// RevokeToken revokes the API token called name.
func (c *Client) RevokeToken(ctx context.Context, name string) error {
	return c.Call(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(name), nil, nil)
}

// Audit decodes the newest limit events of the audit log, or those after
// seq when after > 0, into out ({"events": [auth.Event]}).
func (c *Client) Audit(ctx context.Context, limit int, after uint64, out any) error {
	p := fmt.Sprintf("/v1/audit?limit=%d", limit)
	if after > 0 {
		p += fmt.Sprintf("&after=%d", after)
	}
	return c.Call(ctx, http.MethodGet, p, nil, out)
}

// AddProbe asks central to answer a question (agent.AddProbeRequest) and
// keep it in the shard's probe set; out receives the probe (agent.AddedProbe).
func (c *Client) AddProbe(ctx context.Context, req, out any) error {
	return c.Call(ctx, http.MethodPost, "/v1/probes", req, out)
}

// Probes decodes central's probe sets, of one shard when shardName is not
// empty, into out (agent.ProbeSets).
func (c *Client) Probes(ctx context.Context, shardName string, out any) error {
	p := "/v1/probes"
	if shardName != "" {
		p += "?shard=" + url.QueryEscape(shardName)
	}
	return c.Call(ctx, http.MethodGet, p, nil, out)
}

// RemoveProbe drops a probe, named by its id or its question, from a
// shard's probe set; out receives how many are left ({"probes": n}).
func (c *Client) RemoveProbe(ctx context.Context, shardName, probe string, out any) error {
	return c.Call(ctx, http.MethodDelete, "/v1/probes/"+url.PathEscape(shardName)+"/"+url.PathEscape(probe), nil, out)
}
