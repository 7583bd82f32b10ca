package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/auth"
)

// apiFlags are the flags of every command that talks to a node's HTTP
// API: where it is and the credential to send.
type apiFlags struct {
	url, token, data string
}

func (o *apiFlags) register(fs *flag.FlagSet, defaultURL, what string) {
	fs.StringVar(&o.url, "node", defaultURL, "URL of "+what+"'s HTTP API")
	fs.StringVar(&o.token, "token", "", "API token (default: $EDGERAG_TOKEN, else DATA/admin.token when --data is given)")
	fs.StringVar(&o.data, "data", "", "the node's data directory, to read the admin token it wrote there (same machine)")
}

// credential picks the token: --token, then $EDGERAG_TOKEN, then the
// admin.token in --data. None is not an error: a node granting anonymous
// access answers queries without one, and one that does not says so.
func (o *apiFlags) credential() (string, error) {
	if o.token != "" {
		return o.token, nil
	}
	if t := strings.TrimSpace(os.Getenv("EDGERAG_TOKEN")); t != "" {
		return t, nil
	}
	if o.data != "" {
		t, err := auth.ReadTokenFile(o.data)
		if err != nil {
			return "", err
		}
		if t == "" {
			return "", usageError{fmt.Sprintf("no %s in %s: has the node started there? (or pass --token)", auth.TokenFile, o.data)}
		}
		return t, nil
	}
	return "", nil
}

// client is the node's API client with the credential.
func (o *apiFlags) client() (*api.Client, error) {
	tok, err := o.credential()
	if err != nil {
		return nil, err
	}
	c := api.NewClient(o.url, nil)
	c.Token = tok
	return c, nil
}

// authorize adds the credential to a request made without the client.
func (o *apiFlags) authorize(req *http.Request) error {
	tok, err := o.credential()
	if err == nil && tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return err
}

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
			return usageError{"token needs a subcommand: create, list or revoke"}
		}
		return nil
	}
	sub, args := args[0], args[1:]
	fs := newFlags("token "+sub, "[flags]", stderr)
	var nf apiFlags
	nf.register(fs, "http://127.0.0.1:8080", "the node")
	name := fs.String("name", "", "create: the token's name (who holds it), e.g. panel-hall-3")
	role := fs.String("role", "query", "create: query, ingest or admin")
	groups := fs.String("groups", "", "create: comma-separated groups the token may see restricted documents of")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, err := nf.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	switch sub {
	case "create":
		if *name == "" {
			return usageError{"token create needs --name: who or what will hold the token"}
		}
		if _, err := auth.ParseRole(*role); err != nil {
			return usageError{err.Error()}
		}
		g, err := auth.ParseGroupList(*groups)
		if err != nil {
			return usageError{"--groups: " + err.Error()}
		}
		var resp auth.CreateResponse
		if err := c.Call(ctx, http.MethodPost, "/v1/tokens", auth.CreateRequest{Name: *name, Role: *role, Groups: g}, &resp); err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(resp)
		}
		fmt.Fprintln(stdout, resp.Token)
		fmt.Fprintf(stderr, "token %q (role %s) created; it is shown only now: keep it, e.g. export EDGERAG_TOKEN=...\n", resp.Info.Name, resp.Info.Role)
		return nil
	case "list":
		var resp struct {
			Tokens []auth.TokenInfo `json:"tokens"`
		}
		if err := c.Call(ctx, http.MethodGet, "/v1/tokens", nil, &resp); err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(resp)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tGROUPS\tCREATED\tBY")
		for _, t := range resp.Tokens {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Role, strings.Join(t.Groups, ","), t.CreatedAt.Format(time.RFC3339), t.CreatedBy)
		}
		return tw.Flush()
	case "revoke":
		if fs.NArg() != 1 {
			return usageError{"token revoke needs the token's name: edgerag token revoke NAME"}
		}
		if err := c.Call(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(fs.Arg(0)), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "token %q revoked\n", fs.Arg(0))
		return nil
	}
	fmt.Fprint(stderr, tokenUsage)
	return usageError{fmt.Sprintf("unknown token subcommand %q", sub)}
}

// runAudit prints the node's audit log (admin).
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("audit", "[flags]", stderr)
	var nf apiFlags
	nf.register(fs, "http://127.0.0.1:8080", "the node")
	limit := fs.Int("n", 100, "how many of the newest events to print")
	after := fs.Uint64("after", 0, "print events after this seq number instead")
	asJSON := fs.Bool("json", false, "print JSON, one event a line")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, err := nf.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	path := fmt.Sprintf("/v1/audit?limit=%d", *limit)
	if *after > 0 {
		path += fmt.Sprintf("&after=%d", *after)
	}
	var resp struct {
		Events []auth.Event `json:"events"`
	}
	if err := c.Call(ctx, http.MethodGet, path, nil, &resp); err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	for _, e := range resp.Events {
		if *asJSON {
			if err := enc.Encode(e); err != nil {
				return err
			}
			continue
		}
		line := fmt.Sprintf("%d %s %-10s %-20s %s", e.Seq, e.At.Format(time.RFC3339), e.Kind, e.Principal, e.Action)
		if e.Detail != "" {
			line += " · " + e.Detail
		}
		if e.Remote != "" {
			line += " · from " + e.Remote
		}
		if e.Suppressed > 0 {
			line += fmt.Sprintf(" · %d more suppressed", e.Suppressed)
		}
		fmt.Fprintln(stdout, line)
	}
	return nil
}
