package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/edgerag/edgerag/node/cmdline"
	"github.com/edgerag/edgerag/sync/pki"
)

// runCA handles 'edgerag ca init|fingerprint'.
func runCA(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "init" && args[0] != "fingerprint") {
		return usageError("usage: edgerag ca init --dir DIR --fleet NAME | ca fingerprint --dir DIR")
	}
	if args[0] == "fingerprint" {
		fs := cmdline.NewFlags("ca fingerprint", "--dir DIR", stderr)
		dir := fs.String("dir", "", "directory of the fleet CA (only ca.crt is read)")
		if err := cmdline.Parse(fs, args[1:]); err != nil {
			return err
		}
		fp, err := pki.CAFingerprint(*dir)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, fp)
		return nil
	}
	fs := cmdline.NewFlags("ca init", "--dir DIR --fleet NAME", stderr)
	dir := fs.String("dir", "", "directory for ca.crt and ca.key (ca.key is the fleet's root secret: keep it off the devices)")
	fleet := fs.String("fleet", "", "fleet name, written into the CA certificate")
	if err := cmdline.Parse(fs, args[1:]); err != nil {
		return err
	}
	if *dir == "" || *fleet == "" {
		return usageError("ca init needs --dir and --fleet")
	}
	if err := pki.InitCA(*dir, *fleet, time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "fleet CA %q written to %s\n", *fleet, *dir)
	return nil
}
