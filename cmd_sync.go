package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/manifest"
)

// runSync handles 'edgerag sync keygen' and 'edgerag sync status'.
func runSync(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "usage: edgerag sync keygen --out DIR | edgerag sync now [--node URL] | edgerag sync status [--node URL] [--json] | edgerag sync promote|halt --shard NAME [--node URL]"
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
		nf := newAPIFlags(fs, "http://127.0.0.1:9090", "central")
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
		if err := nf.client().Call(ctx, http.MethodPost, "/v1/rollout", map[string]string{"shard": *shardName, "action": args[0], "reason": *reason}, &st); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rollout of %s version %d: %s (%s)\n", *shardName, st.To, st.Stage, st.Reason)
		return nil
	case "now":
		fs := newFlags("sync now", "[--node URL]", stderr)
		nfe := newAPIFlags(fs, "http://127.0.0.1:8080", "the edge")
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 0 {
			return usageError{fmt.Sprintf("sync now takes no arguments, got %q", fs.Args())}
		}
		if err := nfe.client().Call(ctx, http.MethodPost, "/v1/sync", nil, nil); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "sync requested: the edge asks central now ('edgerag sync status' shows the progress)")
		return nil
	case "status":
		fs := newFlags("sync status", "[--node URL] [--json]", stderr)
		nf := newAPIFlags(fs, "http://127.0.0.1:8080", "the node (an edge, or central)")
		asJSON := fs.Bool("json", false, "print the status as JSON")
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		var raw json.RawMessage
		if err := nf.client().Call(ctx, http.MethodGet, "/v1/sync", nil, &raw); err != nil {
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
		return printCentralSync(w, raw)
	}
	return printEdgeSync(w, raw)
}

// printCentralSync prints central's side: what is published, transfers
// under way, rollouts and each edge's last report.
func printCentralSync(w io.Writer, raw []byte) error {
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

// printEdgeSync prints an edge's side: each shard, the fleet config and the
// models it applied.
func printEdgeSync(w io.Writer, raw []byte) error {
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
