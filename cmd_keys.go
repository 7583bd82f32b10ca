package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/edgerag/edgerag/node/cmdline"
	"github.com/edgerag/edgerag/node/membership"
	"github.com/edgerag/edgerag/node/membership/keyops"
)

// runKeys manages the gossip keyring: generate a key or a keyring file,
// list the keys in use across the pool, or rotate to a new key.
func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("keys needs a subcommand: generate, list or rotate")
	}
	switch args[0] {
	case "generate":
		return runKeysGenerate(args[1:], stdout, stderr)
	case "list":
		return runKeysList(ctx, args[1:], stdout, stderr)
	case "rotate":
		return runKeysRotate(ctx, args[1:], stdout, stderr)
	}
	return usageError(fmt.Sprintf("keys %q: use generate, list or rotate", args[0]))
}

func runKeysGenerate(args []string, stdout, stderr io.Writer) error {
	fs := cmdline.NewFlags("keys generate", "[--out FILE]", stderr)
	out := fs.String("out", "", "write a new keyring file (mode 0600) holding the key; empty: print the key")
	if err := cmdline.ParseNoArgs(fs, args); err != nil {
		return err
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

func runKeysList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cmdline.NewFlags("keys list", "[--node URL]", stderr)
	nf := cmdline.AddAPIFlags(fs, "http://127.0.0.1:8080", "a member")
	if err := cmdline.Parse(fs, args); err != nil {
		return err
	}
	return keyops.List(ctx, nf.Client(), stdout)
}

// runKeysRotate moves the pool to a new key (keyops.Rotate).
func runKeysRotate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cmdline.NewFlags("keys rotate", "[--node URL] [--overlap DURATION] [--key KEY]", stderr)
	nf := cmdline.AddAPIFlags(fs, "http://127.0.0.1:8080", "a member")
	overlap := fs.Duration("overlap", time.Minute, "how long the old key keeps working after the new one is in use")
	key := fs.String("key", "", "the new key (base64); empty: generate one")
	if err := cmdline.Parse(fs, args); err != nil {
		return err
	}
	if *overlap < 0 {
		return usageError("--overlap must not be negative")
	}
	err := keyops.Rotate(ctx, nf.Client(), *key, *overlap, stdout)
	if errors.Is(err, keyops.ErrBadKey) {
		return usageError(strings.TrimPrefix(err.Error(), keyops.ErrBadKey.Error()+": "))
	}
	return err
}
