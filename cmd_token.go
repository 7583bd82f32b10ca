package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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
// API: where it is, the credential to send, and the CA of an HTTPS node.
type apiFlags struct {
	url, token, data, cacert string
}

// newAPIFlags registers the flags on fs; defaultURL is where the node
// usually listens, what names it in the help ("central").
func newAPIFlags(fs *flag.FlagSet, defaultURL, what string) *apiFlags {
	o := &apiFlags{}
	fs.StringVar(&o.url, "node", defaultURL, "URL of "+what+"'s HTTP API")
	fs.StringVar(&o.token, "token", "", "API token (default: $EDGERAG_TOKEN, else DATA/admin.token when --data is given)")
	fs.StringVar(&o.data, "data", "", "the node's data directory on this machine, to send the admin token it wrote there")
	fs.StringVar(&o.cacert, "cacert", "", "CA certificate (PEM) of an https:// node, e.g. the fleet's ca.crt")
	return o
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
			return "", fmt.Errorf("no %s in %s: has the node started there? (or pass --token)", auth.TokenFile, o.data)
		}
		return t, nil
	}
	return "", nil
}

// client is the node's API client with the credential. A credential that
// cannot be read is reported on the first call, as the error it is.
func (o *apiFlags) client() *api.Client {
	hc := http.DefaultClient
	var setupErr error
	if o.cacert != "" {
		pem, err := os.ReadFile(o.cacert)
		pool := x509.NewCertPool()
		if err == nil && !pool.AppendCertsFromPEM(pem) {
			err = fmt.Errorf("%s holds no PEM certificate", o.cacert)
		}
		if err != nil {
			setupErr = fmt.Errorf("--cacert: %w", err)
		}
		hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	}
	tok, err := o.credential()
	if err != nil {
		setupErr = err
	}
	if setupErr != nil {
		hc = &http.Client{Transport: failing{setupErr}}
	}
	c := nodeClient(o.url, hc)
	c.Token = tok
	return c
}

// failing is a transport that refuses every request with err: the command
// then reports it where it would report any failure to reach the node.
type failing struct{ err error }

func (f failing) RoundTrip(*http.Request) (*http.Response, error) { return nil, f.err }

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
	nf := newAPIFlags(fs, "http://127.0.0.1:8080", "the node")
	name := fs.String("name", "", "create: the token's name (who holds it), e.g. panel-hall-3")
	role := fs.String("role", "query", "create: query, ingest or admin")
	groups := fs.String("groups", "", "create: comma-separated groups the token may see restricted documents of")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c := nf.client()
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
	nf := newAPIFlags(fs, "http://127.0.0.1:8080", "the node")
	limit := fs.Int("n", 100, "how many of the newest events to print")
	after := fs.Uint64("after", 0, "print events after this seq number instead")
	asJSON := fs.Bool("json", false, "print JSON, one event a line")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c := nf.client()
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
