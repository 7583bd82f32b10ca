package membership

import (
	"errors"
	"net/http"
	"time"

	"github.com/edgerag/edgerag/node/api"
)

// KeyRequest is the body of POST /v1/fleet/keys.
type KeyRequest struct {
	Op  string `json:"op"`            // list, install, use, remove
	Key string `json:"key,omitempty"` // base64 AES-256 key; not for list
}

// maxKeyBody bounds a key request: one base64 key and an op.
const maxKeyBody = 4 << 10

// FleetHandler serves GET /v1/fleet. With a nil agent (no --gossip) it
// says how to turn membership on.
func FleetHandler(a *Agent) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a == nil {
			api.WriteError(w, api.Errorf(http.StatusNotFound, api.CodeNotFound, "membership is off on this node: start it with --gossip ADDR (and --join ADDR to reach the others)"))
			return
		}
		api.WriteJSON(w, http.StatusOK, a.Fleet())
	})
}

// KeysHandler serves POST /v1/fleet/keys: keyring operations across the
// pool (what 'edgerag keys rotate' calls). The API listens on loopback by
// default; a node whose --http is reachable from the network exposes this
// as it exposes ingest.
func KeysHandler(a *Agent) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a == nil {
			api.WriteError(w, api.Errorf(http.StatusNotFound, api.CodeNotFound, "membership is off on this node: start it with --gossip ADDR"))
			return
		}
		var kr KeyRequest
		if !api.DecodeJSON(w, r, maxKeyBody, &kr) {
			return
		}
		switch kr.Op {
		case "list", "install", "use", "remove":
		default:
			api.WriteError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, "key op %q: use list, install, use or remove", kr.Op))
			return
		}
		if kr.Op != "list" {
			if _, err := DecodeKey(kr.Key); err != nil {
				api.WriteError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, "%v", err))
				return
			}
		}
		start := time.Now()
		res, err := a.Keys(kr.Op, kr.Key)
		if err != nil {
			status := http.StatusBadGateway
			if res.Nodes == 0 && errors.Is(err, errNoEncryption) {
				status = http.StatusConflict
			}
			api.WriteJSON(w, status, map[string]any{"error": api.Error{Code: "key_operation_failed", Message: err.Error()}, "result": res})
			return
		}
		a.log.Info("keyring operation", "op", kr.Op, "nodes", res.Nodes, "answered", res.Answered, "ms", time.Since(start).Milliseconds())
		api.WriteJSON(w, http.StatusOK, res)
	})
}
