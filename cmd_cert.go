package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/edgerag/edgerag/node/cliprint"
	"github.com/edgerag/edgerag/node/cmdline"
	"github.com/edgerag/edgerag/sync/enroll"
	"github.com/edgerag/edgerag/sync/pki"
)

// runCert handles 'edgerag cert issue|enroll-token|revoke|list'.
func runCert(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, groupUsage["cert"])
		return usageError("cert needs a subcommand: issue, enroll-token, revoke or list")
	}
	switch args[0] {
	case "issue":
		return runCertIssue(args[1:], stdout, stderr)
	case "enroll-token", "revoke", "list":
		return runCertAdmin(ctx, args[0], args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, groupUsage["cert"])
	return usageError(fmt.Sprintf("unknown cert subcommand %q", args[0]))
}

func runCertIssue(args []string, stdout, stderr io.Writer) error {
	fs := cmdline.NewFlags("cert issue", "--ca DIR --out DIR --name NODE [--role edge|central]", stderr)
	caDir := fs.String("ca", "", "directory of the fleet CA (ca init)")
	out := fs.String("out", "", "directory for NODE.crt and NODE.key")
	name := fs.String("name", "", "node name: lower-case letters, digits and '-'")
	role := fs.String("role", pki.RoleEdge, "edge or central")
	valid := fs.Duration("valid", 365*24*time.Hour, "validity (devices that enroll get short-lived certificates instead; see 'edgerag enroll')")
	if err := cmdline.Parse(fs, args); err != nil {
		return err
	}
	if *caDir == "" || *out == "" || *name == "" {
		return usageError("cert issue needs --ca, --out and --name")
	}
	if err := pki.IssueCert(*caDir, *out, *name, *role, *valid); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "certificate for %s (%s) written to %s; copy %s/ca.crt beside it\n", *name, *role, *out, *caDir)
	return nil
}

// runCertAdmin runs the subcommands that ask central's API (admin).
func runCertAdmin(ctx context.Context, sub string, args []string, stdout, stderr io.Writer) error {
	fs := cmdline.NewFlags("cert "+sub, certAdminUsage[sub], stderr)
	nf := cmdline.AddAPIFlags(fs, "http://127.0.0.1:8080", "central")
	role := fs.String("role", pki.RoleEdge, "enroll-token: the role the certificate will carry (edge or central)")
	ttl := fs.Duration("ttl", enroll.DefaultTokenTTL, "enroll-token: how long the token may be used (once)")
	groups := fs.String("groups", "", "enroll-token: the only document groups the device may assert for the people it forwards questions of (given, even empty: bounded; not given: unbounded)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := cmdline.Parse(fs, args); err != nil {
		return err
	}
	if (sub == "list") != (fs.NArg() == 0) || fs.NArg() > 1 {
		return usageError("usage: edgerag cert " + certAdminUsage[sub])
	}
	admin := enroll.Admin{Client: nf.Client()}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	switch sub {
	case "enroll-token":
		req := enroll.TokenRequest{Name: fs.Arg(0), Role: *role, TTL: ttl.String()}
		if cmdline.Given(fs, "groups") { // even empty: the certificate bounds the groups
			g := cmdline.SplitList(*groups)
			req.Groups = &g
		}
		r, err := admin.Token(ctx, req)
		return cmdline.Print(stdout, *asJSON, r, err, func() error { cliprint.EnrollToken(stdout, stderr, r); return nil })
	case "revoke":
		r, err := admin.Revoke(ctx, fs.Arg(0))
		return cmdline.Print(stdout, *asJSON, r, err, func() error { cliprint.Revoked(stdout, r); return nil })
	}
	r, err := admin.List(ctx)
	return cmdline.Print(stdout, *asJSON, r, err, func() error { return r.WriteTable(stdout, time.Now()) })
}

var certAdminUsage = map[string]string{
	"enroll-token": "enroll-token NAME [--role edge|central] [--ttl 10m] [--groups a,b] [--node URL] [--token T | --data DIR]",
	"revoke":       "revoke NAME [--node URL] [--token T | --data DIR]",
	"list":         "list [--node URL] [--token T | --data DIR] [--json]",
}
