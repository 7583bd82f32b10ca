package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"

	"github.com/edgerag/edgerag/node/cliprint"
	"github.com/edgerag/edgerag/node/cmdline"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/synckey"
)

// runSync handles 'edgerag sync keygen' and 'edgerag sync status'.
func runSync(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "usage: edgerag sync keygen --out DIR | edgerag sync now [--node URL] | edgerag sync status [--node URL] [--json] | edgerag sync promote|halt --shard NAME|--models [--node URL]"
	if len(args) == 0 {
		return usageError(usage)
	}
	switch args[0] {
	case "keygen":
		fs := cmdline.NewFlags("sync keygen", "--out DIR", stderr)
		out := fs.String("out", "", "directory for sync.key (central only, keep it secret) and sync.pub (every edge)")
		if err := cmdline.Parse(fs, args[1:]); err != nil {
			return err
		}
		if *out == "" {
			return usageError("sync keygen needs --out DIR")
		}
		id, err := synckey.Generate(*out, rand.Reader)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "sync key %s written to %s: sync.key for central (--sync-key), sync.pub for every edge (--sync-pub)\n", id, *out)
		return nil
	case "promote", "halt":
		fs := cmdline.NewFlags("sync "+args[0], "--shard NAME|--models [--node URL] [--reason TEXT]", stderr)
		nf := cmdline.AddAPIFlags(fs, "http://127.0.0.1:9090", "central")
		shardName := fs.String("shard", "", "shard whose rollout to "+args[0])
		models := fs.Bool("models", false, "the model manifest's rollout, not a shard's")
		reason := fs.String("reason", "", "why (kept in the rollout's status)")
		if err := cmdline.Parse(fs, args[1:]); err != nil {
			return err
		}
		if *models == (*shardName != "") {
			return usageError("sync " + args[0] + " needs --shard NAME or --models")
		}
		if *models {
			*shardName = fleet.ModelsRollout
		}
		st, err := nf.Client().Rollout(ctx, *shardName, args[0], *reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rollout of %s version %d: %s (%s)\n", *shardName, st.To, st.Stage, st.Reason)
		return nil
	case "now":
		fs := cmdline.NewFlags("sync now", "[--node URL]", stderr)
		nfe := cmdline.AddAPIFlags(fs, "http://127.0.0.1:8080", "the edge")
		if err := cmdline.ParseNoArgs(fs, args[1:]); err != nil {
			return err
		}
		if err := nfe.Client().SyncNow(ctx); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "sync requested: the edge asks central now ('edgerag sync status' shows the progress)")
		return nil
	case "status":
		fs := cmdline.NewFlags("sync status", "[--node URL] [--json]", stderr)
		nf := cmdline.AddAPIFlags(fs, "http://127.0.0.1:8080", "the node (an edge, or central)")
		asJSON := fs.Bool("json", false, "print the status as JSON")
		if err := cmdline.Parse(fs, args[1:]); err != nil {
			return err
		}
		raw, err := nf.Client().SyncStatus(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			_, err := stdout.Write(append(raw, '\n'))
			return err
		}
		return cliprint.SyncStatus(stdout, raw)
	}
	return usageError(usage)
}
