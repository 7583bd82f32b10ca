package membership

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
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
			writeError(w, api.Errorf(http.StatusNotFound, api.CodeNotFound, "membership is off on this node: start it with --gossip ADDR (and --join ADDR to reach the others)"))
			return
		}
		writeJSON(w, http.StatusOK, a.Fleet())
	})
}

// KeysHandler serves POST /v1/fleet/keys: keyring operations across the
// pool (what 'edgerag keys rotate' calls). The API listens on loopback by
// default; a node whose --http is reachable from the network exposes this
// as it exposes ingest.
func KeysHandler(a *Agent) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a == nil {
			writeError(w, api.Errorf(http.StatusNotFound, api.CodeNotFound, "membership is off on this node: start it with --gossip ADDR"))
			return
		}
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxKeyBody))
		if err != nil {
			writeError(w, api.Errorf(http.StatusRequestEntityTooLarge, api.CodeBadRequest, "key request over %d bytes: send {\"op\",\"key\"}", maxKeyBody))
			return
		}
		var kr KeyRequest
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&kr); err != nil {
			writeError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, "key request is not {\"op\",\"key\"}: %v", err))
			return
		}
		switch kr.Op {
		case "list", "install", "use", "remove":
		default:
			writeError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, "key op %q: use list, install, use or remove", kr.Op))
			return
		}
		if kr.Op != "list" {
			if _, err := DecodeKey(kr.Key); err != nil {
				writeError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, "%v", err))
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
			writeJSON(w, status, map[string]any{"error": api.Error{Code: "key_operation_failed", Message: err.Error()}, "result": res})
			return
		}
		a.log.Info("keyring operation", "op", kr.Op, "nodes", res.Nodes, "answered", res.Answered, "ms", time.Since(start).Milliseconds())
		writeJSON(w, http.StatusOK, res)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, e *api.Error) {
	writeJSON(w, e.Status, map[string]*api.Error{"error": e})
}
