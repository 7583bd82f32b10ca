package agent

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/probes"
	"github.com/edgerag/edgerag/sync/queryrpc"
	"github.com/edgerag/edgerag/sync/transport"
)

// Probe sets of the quality gate of staged rollouts (sync/fleet/probes.go):
// central learns them from the escalations it answers and from operators
// (POST /v1/probes, 'edgerag probes add'); edges answer them as canaries.

// learnTimeout bounds the store write of a probe learnt while answering
// an edge: the edge is waiting for the answer.
const learnTimeout = 2 * time.Second

// learnProbes wraps central's answerer of escalated questions: an answer
// it gave an edge surely becomes a probe of the shard it came from (at most
// one per shard per fleet.PublisherConfig.LearnProbeEvery). Questions
// another central replica forwarded are learnt where they first landed.
func (l *fleetLink) learnProbes(peer transport.Peer, answer queryrpc.Answerer) queryrpc.Answerer {
	p := l.publisher.Load()
	if p == nil || peer.Role == pki.RoleCentral {
		return answer
	}
	return func(ctx context.Context, q api.QueryRequest) (api.QueryResponse, error) {
		resp, err := answer(ctx, q)
		if err != nil || len(resp.Citations) == 0 {
			return resp, err
		}
		// The shard of central's best passage; its documents from that
		// shard, best first, are the trusted answer.
		shardName := resp.Citations[0].Shard
		var docs []string
		for _, c := range resp.Citations {
			if c.Shard == shardName {
				docs = append(docs, c.DocumentID)
			}
		}
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), learnTimeout)
		defer cancel()
		if _, lerr := p.LearnProbe(lctx, q.Question, shardName, docs, resp.Confidence, resp.Abstained); lerr != nil {
			l.log.Warn("probe set: learn from an escalation", "shard", shardName, "err", lerr)
		}
		return resp, nil
	}
}

// probeRoutes serves central's probe sets to operators.
func (sl *syncLink) probeRoutes(h *api.Handler, n *node.Node) {
	h.Handle("GET /v1/probes", http.HandlerFunc(sl.serveProbes))
	h.Handle("POST /v1/probes", sl.addProbeHandler(n))
	h.Handle("DELETE /v1/probes/{shard}/{id}", http.HandlerFunc(sl.serveRemoveProbe))
}

// ProbeSets is the answer of GET /v1/probes.
type ProbeSets struct {
	Sets []probes.Set `json:"sets"`
}

func (sl *syncLink) centralOnly(w http.ResponseWriter) bool {
	if sl.pub == nil {
		api.WriteError(w, api.Errorf(http.StatusNotFound, api.CodeNotFound, "only central keeps probe sets: ask central (--node URL of central)"))
		return false
	}
	return true
}

func (sl *syncLink) serveProbes(w http.ResponseWriter, r *http.Request) {
	if !sl.centralOnly(w) {
		return
	}
	out := ProbeSets{Sets: []probes.Set{}}
	if name := r.URL.Query().Get("shard"); name != "" {
		if err := shard.ValidName(name); err != nil {
			api.WriteError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, "shard: %v", err))
			return
		}
		s, err := sl.pub.ProbeSet(name)
		if err != nil {
			api.WriteError(w, err)
			return
		}
		out.Sets = append(out.Sets, s)
	} else {
		sets, err := sl.pub.ProbeSets(r.Context())
		if err != nil {
			api.WriteError(w, err)
			return
		}
		out.Sets = append(out.Sets, sets...)
	}
	api.WriteJSON(w, http.StatusOK, out)
}

// AddProbeRequest is the body of POST /v1/probes.
type AddProbeRequest struct {
	Shard    string `json:"shard"`
	Question string `json:"question"`
}

// AddedProbe is the answer of POST /v1/probes: the probe with central's
// answer recorded as the trusted one, and the set's size after it.
type AddedProbe struct {
	Probe  probes.Probe `json:"probe"`
	Probes int          `json:"probes"`
}

// addProbeHandler adds an operator's question to a shard's probe set,
// with the documents central cites answering it from that shard as the
// trusted answer; a question central abstains on is refused, as there is
// nothing to trust.
func (sl *syncLink) addProbeHandler(n *node.Node) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !sl.centralOnly(w) {
			return
		}
		var req AddProbeRequest
		if !api.DecodeJSON(w, r, 8<<10, &req) {
			return
		}
		if err := shard.ValidName(req.Shard); err != nil {
			api.WriteError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, `send {"shard": NAME, "question": TEXT}: shard: %v`, err))
			return
		}
		if _, err := probes.New(req.Question, []string{"-"}, probes.FromOperator, time.Now()); err != nil {
			api.WriteError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, "%v", err))
			return
		}
		docs, abstained, err := n.AnswerProbe(r.Context(), req.Shard, req.Question)
		if err != nil {
			api.WriteError(w, err)
			return
		}
		if abstained || len(docs) == 0 {
			api.WriteError(w, api.Errorf(http.StatusConflict, api.CodeBadRequest,
				"central abstains on %q in shard %q, so it has no answer to trust: ask a question its documents answer", req.Question, req.Shard))
			return
		}
		pr, err := probes.New(req.Question, docs, probes.FromOperator, time.Now())
		if err != nil {
			api.WriteError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, "%v", err))
			return
		}
		set, err := sl.pub.AddProbe(r.Context(), req.Shard, pr)
		if err != nil {
			api.WriteError(w, err)
			return
		}
		api.WriteJSON(w, http.StatusOK, AddedProbe{Probe: pr, Probes: len(set.Probes)})
	})
}

func (sl *syncLink) serveRemoveProbe(w http.ResponseWriter, r *http.Request) {
	if !sl.centralOnly(w) || !api.RefuseBody(w, r) {
		return
	}
	set, err := sl.pub.RemoveProbe(r.Context(), r.PathValue("shard"), r.PathValue("id"))
	switch {
	case errors.Is(err, fleet.ErrNoProbe):
		api.WriteError(w, api.Errorf(http.StatusNotFound, api.CodeNotFound, "%v", err))
	case err != nil:
		api.WriteError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, "%v", err))
	default:
		api.WriteJSON(w, http.StatusOK, map[string]any{"shard": set.Shard, "probes": len(set.Probes)})
	}
}
