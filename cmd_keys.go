package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/edgerag/edgerag/node/membership"
)

// runKeys manages the gossip keyring: generate a key or a keyring file,
// list the keys in use across the pool, or rotate to a new key.
func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"keys needs a subcommand: generate, list or rotate"}
	}
	switch args[0] {
	case "generate":
		return runKeysGenerate(args[1:], stdout, stderr)
	case "list":
		return runKeysList(ctx, args[1:], stdout, stderr)
	case "rotate":
		return runKeysRotate(ctx, args[1:], stdout, stderr)
	}
	return usageError{fmt.Sprintf("keys %q: use generate, list or rotate", args[0])}
}

func runKeysGenerate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("keys generate", "[--out FILE]", stderr)
	out := fs.String("out", "", "write a new keyring file (mode 0600) holding the key; empty: print the key")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("keys generate takes no arguments, got %q", fs.Args())}
	}
	key, err := membership.GenerateKey()
	if err != nil {
		return err
	}
	if *out == "" {
		fmt.Fprintln(stdout, key)
		return nil
	}
	if err := membership.WriteKeyring(*out, []string{key}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (mode 0600); copy it to every node of the fleet and pass --keyring %s\n", *out, *out)
	return nil
}

// keysCall runs a keyring operation and insists that every member
// answered: a key installed on only some members would cut the others off
// once it is used. Serf asks the members with a gossip query, which a
// member busy rejoining can miss, and every operation is idempotent, so a
// partial answer is retried a few times before it is an error.
func keysCall(ctx context.Context, nf *apiFlags, op, key string) (membership.KeyResult, error) {
	var res membership.KeyResult
	var err error
	for try := 0; try < 3; try++ {
		if try > 0 {
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return res, fmt.Errorf("%s: %w", op, ctx.Err())
			}
		}
		res = membership.KeyResult{}
		err = nf.client().Keys(ctx, membership.KeyRequest{Op: op, Key: key}, &res)
		if err == nil && (res.Failed > 0 || res.Answered < res.Nodes) {
			err = fmt.Errorf("%d of %d members answered, %d failed: %v", res.Answered, res.Nodes, res.Failed, res.Messages)
		}
		if err == nil {
			return res, nil
		}
	}
	return res, fmt.Errorf("%s: %w (members that were down need the new keyring file copied to them)", op, err)
}

func runKeysList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("keys list", "[--node URL]", stderr)
	nf := newAPIFlags(fs, "http://127.0.0.1:8080", "a member")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	res, err := keysCall(ctx, nf, "list", "")
	if err != nil {
		return err
	}
	for k, n := range res.Keys {
		primary := ""
		if p := res.Primary[k]; p > 0 {
			primary = fmt.Sprintf(", primary on %d", p)
		}
		// Only a prefix: the list is for telling keys apart, not copying.
		fmt.Fprintf(stdout, "%s…  on %d of %d members%s\n", k[:8], n, res.Nodes, primary)
	}
	return nil
}

// runKeysRotate moves the pool to a new key without a moment where two
// members cannot understand each other: install the new key everywhere
// (all members then read both), make it primary (they send with it), wait
// the overlap so that stragglers (a member that was busy or had a queued
// message) still get through with the old key, then remove the old key.
func runKeysRotate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("keys rotate", "[--node URL] [--overlap DURATION] [--key KEY]", stderr)
	nf := newAPIFlags(fs, "http://127.0.0.1:8080", "a member")
	overlap := fs.Duration("overlap", time.Minute, "how long the old key keeps working after the new one is in use")
	key := fs.String("key", "", "the new key (base64); empty: generate one")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *overlap < 0 {
		return usageError{"--overlap must not be negative"}
	}
	list, err := keysCall(ctx, nf, "list", "")
	if err != nil {
		return err
	}
	if len(list.Primary) != 1 {
		return fmt.Errorf("members disagree on the primary key (%d primaries); finish the previous rotation first", len(list.Primary))
	}
	var old string
	for k := range list.Primary {
		old = k
	}
	if *key == "" {
		if *key, err = membership.GenerateKey(); err != nil {
			return err
		}
	}
	if _, err := membership.DecodeKey(*key); err != nil {
		return usageError{"--key: " + err.Error()}
	}
	if *key == old {
		return usageError{"--key is the key already in use"}
	}
	res, err := keysCall(ctx, nf, "install", *key)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "installed the new key on %d members\n", res.Answered)
	if res, err = keysCall(ctx, nf, "use", *key); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "the new key is primary on %d members; the old one still works for %s\n", res.Answered, *overlap)
	select {
	case <-time.After(*overlap):
	case <-ctx.Done():
		return fmt.Errorf("interrupted during the overlap: both keys stay installed; run 'edgerag keys rotate' again or remove the old key later: %w", ctx.Err())
	}
	if res, err = keysCall(ctx, nf, "remove", old); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "removed the old key from %d members; members rewrote their keyring files\n", res.Answered)
	return nil
}
