package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/edgerag/edgerag/node/auth"
	"github.com/edgerag/edgerag/node/cliprint"
	"github.com/edgerag/edgerag/node/cmdline"
)

const tokenUsage = `Usage:
  edgerag token create --name NAME --role query|ingest|admin [--groups a,b] [--node URL] [--token T | --data DIR]
  edgerag token list   [--node URL] [--token T | --data DIR]
  edgerag token revoke NAME [--node URL] [--token T | --data DIR]

Tokens are made, listed and revoked on a running node with an admin token.
A new token is printed once; the node keeps only its hash.
`

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, tokenUsage)
		if len(args) == 0 {
			return usageError("token needs a subcommand: create, list or revoke")
		}
		return nil
	}
	sub, args := args[0], args[1:]
	fs := cmdline.NewFlags("token "+sub, "[flags]", stderr)
	nf := cmdline.AddAPIFlags(fs, "http://127.0.0.1:8080", "the node")
	name := fs.String("name", "", "create: the token's name (who holds it), e.g. panel-hall-3")
	role := fs.String("role", "query", "create: query, ingest or admin")
	groups := fs.String("groups", "", "create: comma-separated groups the token may see restricted documents of")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := cmdline.Parse(fs, args); err != nil {
		return err
	}
	c := nf.Client()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	switch sub {
	case "create":
		if *name == "" {
			return usageError("token create needs --name: who or what will hold the token")
		}
		if _, err := auth.ParseRole(*role); err != nil {
			return usageError(err.Error())
		}
		g, err := auth.ParseGroupList(*groups)
		if err != nil {
			return usageError("--groups: " + err.Error())
		}
		var resp auth.CreateResponse
		err = c.CreateToken(ctx, auth.CreateRequest{Name: *name, Role: *role, Groups: g}, &resp)
		return cmdline.Print(stdout, *asJSON, resp, err, func() error {
			fmt.Fprintln(stdout, resp.Token)
			fmt.Fprintf(stderr, "token %q (role %s) created; it is shown only now: keep it, e.g. export EDGERAG_TOKEN=...\n", resp.Info.Name, resp.Info.Role)
			return nil
		})
	case "list":
		var resp struct {
			Tokens []auth.TokenInfo `json:"tokens"`
		}
		err := c.Tokens(ctx, &resp)
		return cmdline.Print(stdout, *asJSON, resp, err, func() error { return cliprint.Tokens(stdout, resp.Tokens) })
	case "revoke":
		if fs.NArg() != 1 {
			return usageError("token revoke needs the token's name: edgerag token revoke NAME")
		}
		if err := c.RevokeToken(ctx, fs.Arg(0)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "token %q revoked\n", fs.Arg(0))
		return nil
	}
	fmt.Fprint(stderr, tokenUsage)
	return usageError(fmt.Sprintf("unknown token subcommand %q", sub))
}
