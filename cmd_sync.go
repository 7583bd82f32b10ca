package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/metrics"
	"github.com/edgerag/edgerag/node/shardstore"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/fleet/fleetnode"
	"github.com/edgerag/edgerag/sync/manifest"
)

// syncOptions are the fleet-sync flags of serve and central.
type syncOptions struct {
	key    string        // central: sync.key
	canary float64       // central: canary share of staged rollouts
	pub    string        // edge: central's sync.pub
	poll   time.Duration // edge: poll interval
	batch  int64         // edge: bytes of records per request
	// given are the flags set on the command line, which a fleet config
	// manifest does not override.
	given map[string]bool
	// ship is central's model shipping (nil: none); applyModels the
	// edge's (nil without --sync-models). See cmd_models.go.
	ship        *modelShip
	applyModels func(context.Context, manifest.Models) ([]fleet.ModelInUse, error)
}

func (o *syncOptions) register(fs *flag.FlagSet, role string) {
	if role == "central" {
		fs.StringVar(&o.key, "sync-key", "", "central's fleet-sync signing key (sync.key from 'edgerag sync keygen'); enables publishing")
		fs.Float64Var(&o.canary, "sync-canary", 0, "roll each new shard version out to this share of the edges first (0..1; 0: to all at once); promoted when they report it healthy, halted when one fails")
		return
	}
	fs.StringVar(&o.pub, "sync-pub", "", "central's fleet-sync public key (sync.pub); with --central, enables fleet sync of published shards")
	fs.DurationVar(&o.poll, "sync-poll", time.Minute, "how often to ask central for new shard versions")
	fs.Int64Var(&o.batch, "sync-batch", 1<<20, "bytes of chunk records asked for in one request (smaller wastes less on flaky links)")
}

// readSyncPub reads central's fleet-sync public key, the file --sync-pub
// names, which edges check shard and model manifests against.
func readSyncPub(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--sync-pub: %w", err)
	}
	pub, err := manifest.ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("--sync-pub %s: %w", path, err)
	}
	return pub, nil
}

// syncLink is a node's fleet sync: a publisher on central, a syncer on an
// edge (either may be nil).
type syncLink struct {
	pub    *fleet.Publisher
	syncer *fleet.Syncer
	ship   *modelShip // central's model shipping, if any
}

// startSync wires fleet sync into a running node: on central a publisher
// served on the QUIC transport, on an edge with --central and --sync-pub a
// syncer running until ctx ends (done is closed when it has stopped).
func startSync(ctx context.Context, role string, o syncOptions, so serveOptions, fo fleetOptions, link *fleetLink, n *node.Node, log *slog.Logger) (*syncLink, <-chan struct{}, error) {
	done := make(chan struct{})
	sl := &syncLink{}
	if role == "central" {
		var key ed25519.PrivateKey
		if o.key != "" {
			b, err := os.ReadFile(o.key)
			if err != nil {
				return nil, nil, fmt.Errorf("--sync-key: %w", err)
			}
			if key, err = manifest.ParsePrivateKey(b); err != nil {
				return nil, nil, fmt.Errorf("--sync-key %s: %w", o.key, err)
			}
		}
		p, err := fleet.NewPublisher(fleet.PublisherConfig{
			KV: n.SyncKV(), Source: fleetnode.Source(n), Key: key, Logger: log,
			Index: manifest.IndexParams{K1: so.bm25.K1, B: so.bm25.B, Analyzer: node.AnalyzerName,
				ChunkTokens: so.chunking.MaxTokens, ChunkOverlap: so.chunking.OverlapTokens},
			EmbedModel: so.model.EmbedModel, CanaryShare: o.canary,
			CheckConfig: checkFleetConfig,
		})
		if err != nil {
			return nil, nil, err
		}
		sl.pub, sl.ship = p, o.ship
		link.setSync(p.Handle)
		if err := o.ship.start(ctx, p); err != nil {
			return nil, nil, err
		}
		close(done)
		return sl, done, nil
	}
	if o.pub == "" || fo.central == "" {
		close(done)
		return sl, done, nil
	}
	pub, err := readSyncPub(o.pub)
	if err != nil {
		return nil, nil, err
	}
	cfg := fleet.SyncerConfig{
		Client: link.client, Central: fo.central, CentralName: fo.centralName, Trusted: []ed25519.PublicKey{pub},
		Target: fleetnode.Target(n), StageDir: filepath.Join(so.data, "sync-staging"), Poll: o.poll, BatchBytes: o.batch, Logger: log,
		// A version learned from central goes to the site as a hint, so
		// the other members need not wait for their next poll.
		OnLearn: func(h fleet.Hint) {
			if a := link.gossip.Load(); a != nil {
				name, payload := fleet.EncodeHint(h)
				if err := a.UserEvent(name, payload); err != nil {
					log.Warn("fleet sync: hint to the site", "err", err)
				}
			}
		},
		ApplyConfig: fleetConfigApplier(n, o.given),
		ApplyModels: o.applyModels,
	}
	testHooks(&cfg)
	s, err := fleet.NewSyncer(cfg)
	if err != nil {
		return nil, nil, err
	}
	sl.syncer = s
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	return sl, done, nil
}

// testHooks wires the fault-injection hooks the fleet tests drive real
// processes with: EDGERAG_TEST_SYNC_KILL_AT=N kills the process (SIGKILL, no
// cleanup) at the Nth step of a sync (or at the step named N: fetch, chunk,
// staged, recorded, materialized, applied); EDGERAG_TEST_SYNC_TRACE=FILE appends
// the hash of every chunk verified on arrival. Nothing else reads them.
func testHooks(cfg *fleet.SyncerConfig) {
	if v := os.Getenv("EDGERAG_TEST_SYNC_KILL_AT"); v != "" {
		at, err := strconv.Atoi(v) // a step number, or the name of a step
		calls := 0
		cfg.Hook = func(point string) error {
			if calls++; (err == nil && calls == at) || point == v {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {} // the signal is on its way
			}
			return nil
		}
	}
	if path := os.Getenv("EDGERAG_TEST_SYNC_TRACE"); path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err == nil {
			cfg.OnVerified = func(h manifest.Hash) { f.WriteString(h.String() + "\n") }
		}
	}
}

// shards summarises an edge's sync state per shard; nil elsewhere.
func (sl *syncLink) shards() []api.SyncShard {
	if sl == nil || sl.syncer == nil {
		return nil
	}
	st := sl.syncer.Status()
	out := make([]api.SyncShard, 0, len(st.Shards))
	for _, s := range st.Shards {
		sh := api.SyncShard{
			Shard: s.Shard, Applied: s.Applied, Previous: s.Previous, State: s.State,
			LastError: s.LastError, AppliedAt: s.AppliedAt,
		}
		if s.Target > s.Applied {
			sh.Target = s.Target
			if s.BytesTotal > 0 {
				sh.Progress = float64(s.BytesDone) / float64(s.BytesTotal)
			}
		}
		out = append(out, sh)
	}
	return out
}

// withSync adds the edge's sync state to the node's status, for the status
// page.
func (sl *syncLink) withSync(status func(context.Context) (api.Status, error)) func(context.Context) (api.Status, error) {
	return func(ctx context.Context) (api.Status, error) {
		st, err := status(ctx)
		if err == nil {
			st.Sync = sl.shards()
		}
		return st, err
	}
}

// observe registers the sync gauges on an edge that syncs.
func (sl *syncLink) observe(m *metrics.Metrics) {
	if sl == nil || sl.syncer == nil {
		return
	}
	m.ObserveSync(func() []metrics.SyncShard {
		shards := sl.shards()
		out := make([]metrics.SyncShard, len(shards))
		for i, s := range shards {
			progress := 1.0
			if s.Target != 0 {
				progress = s.Progress
			}
			out[i] = metrics.SyncShard{Shard: s.Shard, Applied: s.Applied, Progress: progress, Healthy: s.State != "error" && s.LastError == ""}
		}
		return out
	})
}

// register adds fleet sync's HTTP endpoints to a node's API.
func (sl *syncLink) register(h *api.Handler, n *node.Node) {
	h.Handle("GET /v1/sync", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	}))
	h.Handle("POST /v1/publish", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sl.pub == nil {
			api.WriteError(w, api.Errorf(http.StatusNotFound, api.CodeNotFound, "only central publishes shard versions"))
			return
		}
		var req struct {
			Shard      string            `json:"shard"`
			MinVersion uint64            `json:"min_version"`
			Config     map[string]string `json:"config"`
			Models     []string          `json:"models"`
		}
		if !api.DecodeJSON(w, r, 64<<10, &req) {
			return
		}
		kinds := 0
		for _, given := range []bool{req.Shard != "", req.Config != nil, req.Models != nil} {
			if given {
				kinds++
			}
		}
		if kinds != 1 {
			api.WriteError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, `send {"shard": NAME, "min_version"?: N}, {"config": {SETTING: VALUE, ...}} or {"models": [NAME, ...]}`))
			return
		}
		if req.Models != nil {
			if sl.ship == nil {
				api.WriteError(w, api.Errorf(http.StatusConflict, api.CodeBadRequest, "this central cannot ship models: start it with --sync-key and --quic"))
				return
			}
			res, err := sl.ship.publish(r.Context(), sl.pub, req.Models)
			if err != nil {
				api.WriteError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, "%v", err))
				return
			}
			api.WriteJSON(w, http.StatusOK, res)
			return
		}
		if req.Config != nil {
			res, err := sl.pub.PublishConfig(r.Context(), req.Config)
			switch {
			case errors.Is(err, fleet.ErrNoKey):
				api.WriteError(w, api.Errorf(http.StatusConflict, api.CodeBadRequest, "%v", err))
			case err != nil:
				api.WriteError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, "%v", err))
			default:
				api.WriteJSON(w, http.StatusOK, res)
			}
			return
		}
		res, err := sl.pub.Publish(r.Context(), req.Shard, req.MinVersion)
		switch {
		case errors.Is(err, fleet.ErrNoKey):
			api.WriteError(w, api.Errorf(http.StatusConflict, api.CodeBadRequest, "%v", err))
		case errors.Is(err, shardstore.ErrNotFound):
			api.WriteError(w, api.Errorf(http.StatusNotFound, api.CodeNotFound, "%v", err))
		case err != nil:
			api.WriteError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, "%v", err))
		default:
			api.WriteJSON(w, http.StatusOK, res)
		}
	}))
	h.Handle("POST /v1/rollout", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	}))
	h.Handle("POST /v1/shards/{name}/rollback", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	}))
	h.Handle("POST /v1/sync", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sl.syncer == nil {
			api.WriteError(w, api.Errorf(http.StatusNotFound, api.CodeNotFound, "fleet sync is off on this node"))
			return
		}
		sl.syncer.Nudge()
		api.WriteJSON(w, http.StatusAccepted, map[string]string{"status": "sync requested"})
	}))
}

// runSync handles 'edgerag sync keygen' and 'edgerag sync status'.
func runSync(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "usage: edgerag sync keygen --out DIR | edgerag sync status [--node URL] [--json] | edgerag sync promote|halt --shard NAME [--node URL]"
	if len(args) == 0 {
		return usageError{usage}
	}
	switch args[0] {
	case "keygen":
		fs := newFlags("sync keygen", "--out DIR", stderr)
		out := fs.String("out", "", "directory for sync.key (central only, keep it secret) and sync.pub (every edge)")
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		if *out == "" {
			return usageError{"sync keygen needs --out DIR"}
		}
		return syncKeygen(*out, stdout)
	case "promote", "halt":
		fs := newFlags("sync "+args[0], "--shard NAME [--node URL] [--reason TEXT]", stderr)
		nodeURL := fs.String("node", "http://127.0.0.1:9090", "URL of central's HTTP API")
		shardName := fs.String("shard", "", "shard whose rollout to "+args[0])
		reason := fs.String("reason", "", "why (kept in the rollout's status)")
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		if *shardName == "" {
			return usageError{"sync " + args[0] + " needs --shard NAME"}
		}
		var st struct {
			To     uint64 `json:"to"`
			Stage  string `json:"stage"`
			Reason string `json:"reason"`
		}
		if err := httpCall(ctx, http.MethodPost, *nodeURL+"/v1/rollout", map[string]string{"shard": *shardName, "action": args[0], "reason": *reason}, &st); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rollout of %s version %d: %s (%s)\n", *shardName, st.To, st.Stage, st.Reason)
		return nil
	case "status":
		fs := newFlags("sync status", "[--node URL] [--json]", stderr)
		nodeURL := fs.String("node", "http://127.0.0.1:8080", "URL of the node's HTTP API (an edge, or central)")
		asJSON := fs.Bool("json", false, "print the status as JSON")
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		var raw json.RawMessage
		if err := httpCall(ctx, http.MethodGet, *nodeURL+"/v1/sync", nil, &raw); err != nil {
			return err
		}
		if *asJSON {
			_, err := stdout.Write(append(raw, '\n'))
			return err
		}
		return printSyncStatus(stdout, raw)
	}
	return usageError{usage}
}

func syncKeygen(dir string, stdout io.Writer) error {
	pub, priv, err := manifest.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	kb, err := manifest.MarshalPrivateKey(priv)
	if err != nil {
		return err
	}
	pb, err := manifest.MarshalPublicKey(pub)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("sync keygen: %w", err)
	}
	for _, f := range []struct {
		name string
		b    []byte
		mode os.FileMode
	}{{"sync.key", kb, 0o600}, {"sync.pub", pb, 0o644}} {
		// O_EXCL: never overwrite a key the fleet already trusts.
		fh, err := os.OpenFile(filepath.Join(dir, f.name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.mode)
		if err != nil {
			return fmt.Errorf("sync keygen: %w (remove the old key only if no edge trusts it)", err)
		}
		_, err = fh.Write(f.b)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("sync keygen: %w", err)
		}
	}
	fmt.Fprintf(stdout, "sync key %s written to %s: sync.key for central (--sync-key), sync.pub for every edge (--sync-pub)\n", manifest.IDOf(pub), dir)
	return nil
}

func printSyncStatus(w io.Writer, raw []byte) error {
	var probe struct {
		Role string `json:"role"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return fmt.Errorf("sync status: %w", err)
	}
	if probe.Role == "central" {
		var st fleet.CentralStatus
		if err := json.Unmarshal(raw, &st); err != nil {
			return fmt.Errorf("sync status: %w", err)
		}
		fmt.Fprintln(w, "published:")
		for _, v := range st.Published {
			fmt.Fprintf(w, "  %-24s version %d\n", v.Shard, v.Version)
		}
		if st.Config > 0 {
			fmt.Fprintf(w, "  %-24s version %d\n", "(fleet config)", st.Config)
		}
		if st.Models > 0 {
			fmt.Fprintf(w, "  %-24s version %d\n", "(models)", st.Models)
		}
		fmt.Fprintf(w, "served: %d manifests, %d chunks, %d bytes\n", st.ManifestsServed, st.ChunksServed, st.BytesServed)
		if len(st.Transfers) > 0 {
			fmt.Fprintln(w, "transfers under way:")
		}
		for _, t := range st.Transfers {
			fmt.Fprintf(w, "  %-16s %-24s → %-6d %s  %d/%d chunks  %s\n", t.Node, t.Shard, t.Target,
				progressBar(t.BytesDone, t.BytesTotal), t.ChunksDone, t.ChunksTotal, t.State)
		}
		for _, r := range st.Rollouts {
			fmt.Fprintf(w, "rollout %-16s %d → %d: %s, canaries %s", r.Shard, r.From, r.To, r.Stage, strings.Join(r.Canaries, ", "))
			if r.Reason != "" {
				fmt.Fprintf(w, " (%s)", r.Reason)
			}
			fmt.Fprintln(w)
		}
		if len(st.Edges) > 0 {
			fmt.Fprintln(w, "edges (last report):")
		}
		latest := map[string]uint64{}
		for _, v := range st.Published {
			latest[v.Shard] = v.Version
		}
		for _, a := range st.Edges {
			health := "healthy"
			if !a.Healthy {
				health = "UNHEALTHY " + a.Error
			}
			behind := "" // a staged rollout may hold an edge back on purpose
			if a.Version < latest[a.Shard] {
				behind = fmt.Sprintf(" (latest %d)", latest[a.Shard])
			}
			fmt.Fprintf(w, "  %-16s %-24s version %-6d %s%s  %s\n", a.Node, a.Shard, a.Version, health, behind, a.At.Format(time.RFC3339))
		}
		return nil
	}
	var st fleet.EdgeStatus
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("sync status: %w", err)
	}
	fmt.Fprintf(w, "central: %s", st.Central)
	if !st.LastPoll.IsZero() {
		fmt.Fprintf(w, " · last poll %s", st.LastPoll.Format(time.RFC3339))
	}
	fmt.Fprintln(w)
	if st.PollError != "" {
		fmt.Fprintf(w, "poll error: %s\n", st.PollError)
	}
	for _, s := range st.Shards {
		fmt.Fprintf(w, "%-24s applied %d (previous %d)  %s", s.Shard, s.Applied, s.Previous, s.State)
		if s.Target != 0 && s.State != "idle" && s.State != "error" {
			fmt.Fprintf(w, " → %d  %s  %d/%d chunks", s.Target, progressBar(s.BytesDone, s.BytesTotal), s.ChunksDone, s.ChunksTotal)
		}
		fmt.Fprintln(w)
		if s.LastError != "" {
			fmt.Fprintf(w, "  last error (%s): %s\n", s.LastErrorAt.Format(time.RFC3339), s.LastError)
		}
	}
	if c := st.Config; c != nil {
		if c.Applied > 0 {
			fmt.Fprintf(w, "fleet config: version %d applied %s\n", c.Applied, c.AppliedAt.Format(time.RFC3339))
		} else {
			fmt.Fprintln(w, "fleet config: none applied")
		}
		for _, x := range c.Settings {
			fmt.Fprintf(w, "  %-18s %-10s %s\n", x.Name, x.Value, x.Source)
		}
		if c.LastError != "" {
			fmt.Fprintf(w, "  last error (%s): %s\n", c.LastErrorAt.Format(time.RFC3339), c.LastError)
		}
	}
	if m := st.Models; m != nil {
		if m.Applied > 0 {
			fmt.Fprintf(w, "models: version %d applied %s  %s", m.Applied, m.AppliedAt.Format(time.RFC3339), m.State)
		} else {
			fmt.Fprintf(w, "models: none applied  %s", m.State)
		}
		if m.Target != 0 {
			fmt.Fprintf(w, " → %d", m.Target)
		}
		fmt.Fprintln(w)
		for _, x := range m.Models {
			fmt.Fprintf(w, "  %-32s %s\n", x.Name, x.Role)
		}
		if m.LastError != "" {
			fmt.Fprintf(w, "  last error (%s): %s\n", m.LastErrorAt.Format(time.RFC3339), m.LastError)
		}
	}
	return nil
}

// progressBar draws done of total as 20 cells and a percentage.
func progressBar(done, total int64) string {
	frac := 1.0
	if total > 0 {
		frac = min(1, max(0, float64(done)/float64(total)))
	}
	n := int(frac * 20)
	return strings.Repeat("█", n) + strings.Repeat("░", 20-n) + fmt.Sprintf(" %3.0f%%", 100*frac)
}

// runPublish handles 'edgerag publish --shard NAME': central cuts a version.
func runPublish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("publish", "--shard NAME [--node URL] [--min-version N] | --config FILE [--node URL] | --models NAME,... [--node URL]", stderr)
	nodeURL := fs.String("node", "http://127.0.0.1:9090", "URL of central's HTTP API")
	shardName := fs.String("shard", "", "shard to publish")
	minVersion := fs.Uint64("min-version", 0, "lowest version edges may roll back to (0: no floor)")
	configFile := fs.String("config", "", "publish this fleet config (TOML, in the node configuration file's layout, with only the settings that change at run time: "+strings.Join(node.TunableNames(), ", ")+")")
	modelNames := fs.String("models", "", "publish this set of models from central's Ollama (comma-separated, e.g. all-minilm,qwen2.5:0.5b): edges with --sync-models fetch them and switch to them; a new version only when the set changed")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	given := 0
	for _, v := range []string{*shardName, *configFile, *modelNames} {
		if v != "" {
			given++
		}
	}
	if given != 1 {
		return usageError{"publish needs one of --shard NAME, --config FILE or --models NAME,..."}
	}
	if *modelNames != "" {
		var names []string
		for _, n := range strings.Split(*modelNames, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
		var res fleet.PublishedModels
		if err := httpCall(ctx, http.MethodPost, *nodeURL+"/v1/publish", map[string]any{"models": names}, &res); err != nil {
			return err
		}
		if res.Unchanged {
			fmt.Fprintf(stdout, "models unchanged since version %d: nothing published\n", res.Version)
			return nil
		}
		fmt.Fprintf(stdout, "published model manifest version %d: %s\n", res.Version, strings.Join(res.Models, ", "))
		return nil
	}
	if *configFile != "" {
		settings, err := readFleetConfig(*configFile)
		if err != nil {
			return err
		}
		var res fleet.PublishedConfig
		if err := httpCall(ctx, http.MethodPost, *nodeURL+"/v1/publish", map[string]any{"config": settings}, &res); err != nil {
			return err
		}
		if res.Unchanged {
			fmt.Fprintf(stdout, "fleet config unchanged since version %d: nothing published\n", res.Version)
			return nil
		}
		fmt.Fprintf(stdout, "published fleet config version %d: %d settings\n", res.Version, len(res.Settings))
		return nil
	}
	var res fleet.Published
	err := httpCall(ctx, http.MethodPost, *nodeURL+"/v1/publish", map[string]any{"shard": *shardName, "min_version": *minVersion}, &res)
	if err != nil {
		return err
	}
	if res.Unchanged {
		fmt.Fprintf(stdout, "shard %s unchanged since version %d: nothing published\n", res.Shard, res.Version)
		return nil
	}
	fmt.Fprintf(stdout, "published shard %s version %d: %d chunks (%d new), %d bytes\n", res.Shard, res.Version, res.Chunks, res.NewChunks, res.Bytes)
	return nil
}

// runShard handles 'edgerag shard rollback NAME'.
func runShard(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rollback" {
		return usageError{"usage: edgerag shard rollback [--node URL] NAME"}
	}
	fs := newFlags("shard rollback", "[--node URL] NAME", stderr)
	nodeURL := fs.String("node", "http://127.0.0.1:8080", "URL of the edge's HTTP API")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"shard rollback needs one shard name"}
	}
	var res struct {
		Shard    string `json:"shard"`
		From, To uint64
	}
	if err := httpCall(ctx, http.MethodPost, *nodeURL+"/v1/shards/"+fs.Arg(0)+"/rollback", nil, &res); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "shard %s rolled back from version %d to %d\n", res.Shard, res.From, res.To)
	return nil
}

// httpCall sends a JSON request to a node and decodes its JSON answer.
func httpCall(ctx context.Context, method, url string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: is the node running? %w", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error *api.Error `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != nil {
			return fmt.Errorf("%s", e.Error.Message)
		}
		return fmt.Errorf("%s %s: HTTP %d: %s", method, url, resp.StatusCode, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, out)
}
