package agent

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/edgerag/edgerag/models/ollama"
	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/manifest"
	"github.com/edgerag/edgerag/sync/modelship"
)

// modelShip is central's model shipping: it serves the model manifest
// published last (fleet.Publisher numbers and keeps it) and its blobs.
type modelShip struct {
	central *modelship.Central
	names   []string // --publish-models
	log     *slog.Logger
}

// publishModels makes central serve model shipping on its QUIC transport
// when it has a sync key; the manifest itself is published once fleet sync
// runs (start), and again by 'edgerag publish --models'.
func publishModels(o ModelsConfig, syncKey string, link *fleetLink, log *slog.Logger) (*modelShip, error) {
	names := o.Publish
	switch {
	case syncKey == "" && len(names) > 0:
		return nil, configErrorf("--publish-models needs --sync-key: edges only take models central signed")
	case link.server == nil && len(names) > 0:
		return nil, configErrorf("--publish-models needs --quic: edges fetch the models over it")
	case syncKey == "" || link.server == nil:
		return nil, nil
	}
	dir := o.OllamaDir
	if dir == "" {
		var err error
		if dir, err = modelship.DefaultModelsDir(); err != nil && len(names) > 0 {
			return nil, err
		}
	}
	ms := &modelShip{central: modelship.NewCentral(modelship.Source{Dir: dir}, log), names: names, log: log}
	link.setModels(ms.central.Handle)
	return ms, nil
}

// start serves the model manifest published before (a restart serves the
// same version), then publishes --publish-models: a new version only when
// the models changed.
func (ms *modelShip) start(ctx context.Context, p *fleet.Publisher) error {
	if ms == nil {
		return nil
	}
	env, latest, err := p.LatestModels()
	if err != nil {
		return fmt.Errorf("model manifest published before: %w", err)
	}
	// Older versions stay fetchable: a staged rollout keeps edges on one,
	// and an edge may roll back to one. One whose blobs central no longer
	// holds is left out.
	history, err := p.ModelsManifests(ctx)
	if err != nil {
		return fmt.Errorf("model manifests published before: %w", err)
	}
	for v, old := range history {
		if env != nil && v == latest.Version {
			continue
		}
		if _, err := ms.central.Keep(old); err != nil {
			ms.log.Warn("an older model manifest is not served", "version", v, "err", err)
		}
	}
	if env != nil {
		if _, err := ms.central.Serve(env); err != nil {
			return err
		}
	}
	if len(ms.names) == 0 {
		return nil
	}
	if _, err := ms.publish(ctx, p, ms.names); err != nil {
		return fmt.Errorf("--publish-models: %w", err)
	}
	return nil
}

// publish reads the named models from central's Ollama, checks them, and
// publishes and serves them as the next model manifest version, unless
// they are what the latest one lists.
func (ms *modelShip) publish(ctx context.Context, p *fleet.Publisher, names []string) (fleet.PublishedModels, error) {
	if len(names) == 0 {
		return fleet.PublishedModels{}, errors.New("publish models: name at least one model")
	}
	models, err := ms.central.Read(ctx, names...)
	if err != nil {
		return fleet.PublishedModels{}, err
	}
	res, env, err := p.PublishModels(ctx, models)
	if err != nil {
		return fleet.PublishedModels{}, err
	}
	if _, err := ms.central.Serve(env); err != nil {
		return fleet.PublishedModels{}, err
	}
	return res, nil
}

// ensureModels fetches central's published models into the local Ollama
// before the node opens them, so that the node checks and warms them as if
// they had always been there. A failure is logged, not fatal: the node
// answers without the missing models, and fleet sync resumes the transfer
// (from what was staged) while the node runs. It returns the model
// shipping edge fleet sync applies later model manifests with (nil without
// --sync-models).
func ensureModels(ctx context.Context, c Config, link *fleetLink, log *slog.Logger) (*modelship.Edge, error) {
	if !c.Models.Ensure {
		return nil, nil
	}
	switch {
	case c.Fleet.Central == "" || link.client == nil:
		return nil, configErrorf("--sync-models needs --central: the models come from central")
	case c.Sync.Pub == "":
		return nil, configErrorf("--sync-models needs --sync-pub: edges only take models central signed")
	case c.Model.Host == "":
		return nil, configErrorf("--sync-models needs --ollama: the local Ollama the models go to")
	}
	pub, err := readSyncPub(c.Sync.Pub)
	if err != nil {
		return nil, err
	}
	host := c.Model.Host
	if !strings.Contains(host, "://") {
		host = "http://" + host
	}
	e, err := modelship.NewEdge(modelship.EdgeConfig{
		Transport: link.central, Central: modelship.Target{Name: c.Fleet.CentralName, Addr: c.Fleet.Central},
		Trusted: []ed25519.PublicKey{pub}, OllamaHost: host,
		StageDir: filepath.Join(c.DataDir, "models-staging"), Logger: log,
		Progress: progressLogger(log),
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.Models.Timeout)
	defer cancel()
	start := time.Now()
	ms, err := e.Manifest(ctx)
	if err == nil {
		err = e.EnsureAll(ctx, ms)
	}
	switch {
	case err == nil:
		log.Info("models synced from central", "models", len(ms.Models), "version", ms.Version, "ms", time.Since(start).Milliseconds())
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return nil, ctx.Err()
	default:
		log.Warn("models not synced from central; starting without them, fleet sync resumes", "err", err)
	}
	return e, nil
}

// modelApplier returns the function fleet sync applies a model manifest
// with (nil without --sync-models): it ensures every model in the local
// Ollama, then switches the node to them. Which model does what is what
// the local Ollama shows: a model with the "embedding" capability embeds,
// one with "completion" writes answers. When a manifest holds several of a
// kind, the node keeps the one it uses if it is among them and otherwise
// switches to none of them (the others are held, and logged).
//
// With fixedGen (--llm) the node's answers come from a server of the
// operator's choosing, which a shipped model never replaces.
func modelApplier(e *modelship.Edge, n *node.Node, base ollama.Config, fixedGen bool, log *slog.Logger) func(context.Context, manifest.Models) ([]fleet.ModelInUse, error) {
	if e == nil {
		return nil
	}
	return func(ctx context.Context, ms manifest.Models) ([]fleet.ModelInUse, error) {
		if err := e.EnsureAll(ctx, ms); err != nil {
			return nil, err
		}
		var gens, embs []string
		for _, m := range ms.Models {
			caps, err := e.Capabilities(ctx, m.Name)
			if err != nil {
				return nil, err
			}
			switch {
			case slices.Contains(caps, "embedding"):
				embs = append(embs, m.Name)
			case slices.Contains(caps, "completion"):
				gens = append(gens, m.Name)
			}
		}
		serving, next := n.EmbedderModels()
		gen := pickModel(gens, n.GeneratorModel())
		if fixedGen {
			gen = ""
		}
		emb := pickModel(embs, next, serving)
		if len(gens) > 1 && gen == "" || len(embs) > 1 && emb == "" {
			log.Warn("model manifest lists several models of a kind and none is in use; the node keeps its own", "generation", gens, "embedding", embs)
		}
		if gen != "" && !sameModelName(gen, n.GeneratorModel()) {
			c, err := checkedClient(ctx, base, gen, "")
			if err != nil {
				return nil, err
			}
			if err := n.SetGenerator(c.Generator()); err != nil {
				return nil, err
			}
		}
		if emb != "" && !sameModelName(emb, serving) && !sameModelName(emb, next) {
			c, err := checkedClient(ctx, base, "", emb)
			if err != nil {
				return nil, err
			}
			if err := n.SetEmbedder(c.Embedder()); errors.Is(err, node.ErrNoDense) {
				log.Warn("model manifest ships an embedding model, which this node cannot use", "model", emb, "err", err)
				emb = ""
			} else if err != nil {
				return nil, err
			}
		}
		out := make([]fleet.ModelInUse, 0, len(ms.Models))
		for _, m := range ms.Models {
			role := fleet.RoleHeld
			switch m.Name {
			case gen:
				role = fleet.RoleGeneration
			case emb:
				role = fleet.RoleEmbedding
			}
			out = append(out, fleet.ModelInUse{Name: m.Name, Role: role})
		}
		return out, nil
	}
}

// checkedClient returns a client of the local Ollama for one model, which
// Check has found there: it learns the model's digest, which the node's
// model ids (and the ids stored with vectors) carry, as at start.
func checkedClient(ctx context.Context, base ollama.Config, gen, emb string) (*ollama.Client, error) {
	cfg := base
	cfg.GenModel, cfg.EmbedModel, cfg.AllowPull = gen, emb, false
	c, err := ollama.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := c.Check(ctx, func(string, int64, int64) {}); err != nil {
		return nil, fmt.Errorf("model %s%s: %w", gen, emb, err)
	}
	return c, nil
}

// pickModel returns the only candidate, or else the first of current that
// is a candidate (as the candidate's name); "" when none fits.
func pickModel(candidates []string, current ...string) string {
	if len(candidates) == 1 {
		return candidates[0]
	}
	for _, cur := range current {
		for _, c := range candidates {
			if sameModelName(c, cur) {
				return c
			}
		}
	}
	return ""
}

// sameModelName compares Ollama names with their defaults filled in
// ("x" is "x:latest"); either may be a model id of the node's
// ("ollama/x:latest@digest").
func sameModelName(a, b string) bool {
	if name, _, ok := ollama.ParseModelID(a); ok {
		a = name
	}
	if name, _, ok := ollama.ParseModelID(b); ok {
		b = name
	}
	if a == "" || b == "" {
		return a == b
	}
	na, errA := modelship.ParseModelName(a)
	nb, errB := modelship.ParseModelName(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return na.EqualFold(nb)
}

// progressLogger logs a blob's progress about every tenth of it, not every
// range.
func progressLogger(log *slog.Logger) func(modelship.Progress) {
	var lastTenth int64 = -1
	return func(p modelship.Progress) {
		switch p.Phase {
		case "fetch":
			if p.Total == 0 {
				return
			}
			if tenth := 10 * p.Done / p.Total; tenth != lastTenth {
				lastTenth = tenth
				log.Info("model", "status", "fetching", "model", p.Model, "digest", p.Digest, "done", p.Done, "total", p.Total)
			}
		default:
			lastTenth = -1
			log.Info("model", "status", p.Phase, "model", p.Model)
		}
	}
}

// serveModelsHistory lists central's model manifests and their rollout.
func (sl *syncLink) serveModelsHistory(w http.ResponseWriter, r *http.Request) {
	if sl.pub == nil {
		api.WriteError(w, api.Errorf(http.StatusNotFound, api.CodeNotFound, "only central keeps the model manifests' history; ask an edge with 'edgerag sync status'"))
		return
	}
	h, err := sl.pub.History(r.Context())
	if err != nil {
		api.WriteError(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, h)
}

// serveModelsRollback returns an edge to the model manifest it applied
// before the current one.
func (sl *syncLink) serveModelsRollback(w http.ResponseWriter, r *http.Request) {
	if !api.RefuseBody(w, r) {
		return
	}
	if sl.syncer == nil {
		api.WriteError(w, api.Errorf(http.StatusNotFound, api.CodeNotFound, "fleet sync is off on this node: only an edge that follows central's models (--sync-models) rolls them back"))
		return
	}
	from, to, err := sl.syncer.RollbackModels(r.Context())
	switch {
	case errors.Is(err, fleet.ErrNoModels):
		api.WriteError(w, api.Errorf(http.StatusNotFound, api.CodeNotFound, "%v", err))
	case errors.Is(err, fleet.ErrNothingToRevert):
		api.WriteError(w, api.Errorf(http.StatusConflict, api.CodeBadRequest, "%v", err))
	case err != nil:
		api.WriteError(w, err)
	default:
		api.WriteJSON(w, http.StatusOK, api.ModelsRollback{From: from, To: to})
	}
}
