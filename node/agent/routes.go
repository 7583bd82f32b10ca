package agent

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/shardstore"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/lease"
)

// routes adds fleet sync's HTTP endpoints to a node's API: status, publish
// and rollouts on central, sync requests and rollbacks on an edge.
func (sl *syncLink) routes(h *api.Handler, n *node.Node) {
	h.Handle("GET /v1/sync", http.HandlerFunc(sl.serveStatus))
	h.Handle("POST /v1/publish", http.HandlerFunc(sl.servePublish))
	h.Handle("POST /v1/rollout", http.HandlerFunc(sl.serveRollout))
	h.Handle("POST /v1/shards/{name}/rollback", rollbackHandler(n))
	h.Handle("POST /v1/sync", http.HandlerFunc(sl.serveNudge))
	h.Handle("GET /v1/models/history", http.HandlerFunc(sl.serveModelsHistory))
	h.Handle("POST /v1/models/rollback", http.HandlerFunc(sl.serveModelsRollback))
	sl.probeRoutes(h, n)
}

func (sl *syncLink) serveStatus(w http.ResponseWriter, r *http.Request) {
	switch {
	case sl.pub != nil:
		st, err := sl.pub.Status(r.Context())
		if err != nil {
			api.WriteError(w, err)
			return
		}
		api.WriteJSON(w, http.StatusOK, st)
	case sl.syncer != nil:
		api.WriteJSON(w, http.StatusOK, sl.syncer.Status())
	default:
		api.WriteError(w, api.Errorf(http.StatusNotFound, api.CodeNotFound, "fleet sync is off on this node: start it with --central and --sync-pub"))
	}
}

// publishRequest is the body of POST /v1/publish: exactly one of a shard,
// a fleet config, a model set or a collection of old versions.
type publishRequest struct {
	Shard      string            `json:"shard"`
	MinVersion uint64            `json:"min_version"`
	Config     map[string]string `json:"config"`
	Models     []string          `json:"models"`
	Collect    bool              `json:"collect"`
	Keep       int               `json:"keep"` // with collect: newest versions kept per shard; 0: the default
}

func (sl *syncLink) servePublish(w http.ResponseWriter, r *http.Request) {
	if sl.pub == nil {
		api.WriteError(w, api.Errorf(http.StatusNotFound, api.CodeNotFound, "only central publishes shard versions"))
		return
	}
	var req publishRequest
	if !api.DecodeJSON(w, r, 64<<10, &req) {
		return
	}
	// Publishing a large shard to an object store takes minutes (100k
	// records to a bucket outlasted the server's 2-minute write timeout
	// under load, and the client saw EOF while the publish went on); the
	// client waits for the result, so this answer has no write deadline.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	kinds := 0
	for _, given := range []bool{req.Shard != "", req.Config != nil, req.Models != nil, req.Collect} {
		if given {
			kinds++
		}
	}
	if kinds != 1 {
		api.WriteError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, `send {"shard": NAME, "min_version"?: N}, {"config": {SETTING: VALUE, ...}}, {"models": [NAME, ...]} or {"collect": true, "keep"?: N}`))
		return
	}
	var res any
	var err error
	switch {
	case req.Models != nil:
		if sl.ship == nil {
			api.WriteError(w, api.Errorf(http.StatusConflict, api.CodeBadRequest, "this central cannot ship models: start it with --sync-key and --quic"))
			return
		}
		if sl.lease != nil {
			// The model manifest is the replicas' shared one: only the
			// lease holder publishes it.
			if err = sl.lease.Check(); err != nil {
				break
			}
		}
		res, err = sl.ship.publish(r.Context(), sl.pub, req.Models)
	case req.Config != nil:
		res, err = sl.pub.PublishConfig(r.Context(), req.Config)
	case req.Collect:
		if req.Keep < 0 {
			api.WriteError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, "keep %d: give 0 (the default, %d) or more", req.Keep, fleet.DefaultKeepVersions))
			return
		}
		res, err = sl.pub.Collect(r.Context(), req.Keep)
	default:
		res, err = sl.pub.Publish(r.Context(), req.Shard, req.MinVersion)
	}
	switch {
	case errors.Is(err, lease.ErrNotHolder):
		api.WriteError(w, api.Errorf(http.StatusConflict, api.CodeBadRequest, "%v", err))
	case errors.Is(err, fleet.ErrNoKey):
		api.WriteError(w, api.Errorf(http.StatusConflict, api.CodeBadRequest, "%v", err))
	case errors.Is(err, shardstore.ErrNotFound):
		api.WriteError(w, api.Errorf(http.StatusNotFound, api.CodeNotFound, "%v", err))
	case err != nil:
		api.WriteError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, "%v", err))
	default:
		api.WriteJSON(w, http.StatusOK, res)
	}
}

func (sl *syncLink) serveRollout(w http.ResponseWriter, r *http.Request) {
	if sl.pub == nil {
		api.WriteError(w, api.Errorf(http.StatusNotFound, api.CodeNotFound, "only central runs rollouts"))
		return
	}
	var req struct {
		Shard  string `json:"shard"`
		Action string `json:"action"`
		Reason string `json:"reason"`
	}
	if !api.DecodeJSON(w, r, 4096, &req) {
		return
	}
	if req.Shard == "" || (req.Action != "promote" && req.Action != "halt") {
		api.WriteError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, `send {"shard": NAME, "action": "promote"|"halt", "reason"?: TEXT}`))
		return
	}
	st, err := sl.pub.SetRollout(r.Context(), req.Shard, req.Action, req.Reason)
	if err != nil {
		api.WriteError(w, api.Errorf(http.StatusConflict, api.CodeBadRequest, "%v", err))
		return
	}
	api.WriteJSON(w, http.StatusOK, st)
}

// rollbackHandler returns a synced shard to its previous version, unless
// that is below the floor central set in the version being left.
func rollbackHandler(n *node.Node) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		from, to, err := n.RollbackShard(r.Context(), name, func(from, to uint64) error {
			floor, err := fleet.Floor(n.SyncKV(), name, from)
			if err != nil {
				return fmt.Errorf("read the manifest of version %d: %w", from, err)
			}
			if to < floor {
				return fmt.Errorf("version %d is below the floor (min_version %d) central set in version %d", to, floor, from)
			}
			return nil
		})
		if err != nil {
			api.WriteError(w, err)
			return
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"shard": name, "from": from, "to": to})
	})
}

func (sl *syncLink) serveNudge(w http.ResponseWriter, r *http.Request) {
	if !api.RefuseBody(w, r) {
		return
	}
	if sl.syncer == nil {
		api.WriteError(w, api.Errorf(http.StatusNotFound, api.CodeNotFound, "fleet sync is off on this node"))
		return
	}
	sl.syncer.Nudge()
	api.WriteJSON(w, http.StatusAccepted, map[string]string{"status": "sync requested"})
}
