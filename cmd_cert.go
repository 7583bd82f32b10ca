package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/edgerag/edgerag/sync/pki"
)

// runCert handles 'edgerag cert issue'.
func runCert(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "issue" {
		return usageError{"usage: edgerag cert issue --ca DIR --out DIR --name NODE [--role edge|central]"}
	}
	fs := newFlags("cert issue", "--ca DIR --out DIR --name NODE [--role edge|central]", stderr)
	caDir := fs.String("ca", "", "directory of the fleet CA (ca init)")
	out := fs.String("out", "", "directory for NODE.crt and NODE.key")
	name := fs.String("name", "", "node name: lower-case letters, digits and '-'")
	role := fs.String("role", pki.RoleEdge, "edge or central")
	valid := fs.Duration("valid", 365*24*time.Hour, "validity")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *caDir == "" || *out == "" || *name == "" {
		return usageError{"cert issue needs --ca, --out and --name"}
	}
	if err := pki.IssueCert(*caDir, *out, *name, *role, *valid); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "certificate for %s (%s) written to %s; copy %s/ca.crt beside it\n", *name, *role, *out, *caDir)
	return nil
}
