package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/edgerag/edgerag/node/api"
)

// runDocs handles 'edgerag docs list|get|delete'.
func runDocs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, groupUsage["docs"])
		return usageError{"docs needs a command: list, get or delete"}
	}
	sub := args[0]
	synopsis := map[string]string{"list": "[--node URL] [--shard NAME] [--limit N] [--json]", "get": "[--node URL] [--shard NAME] [--json] ID", "delete": "[--node URL] [--shard NAME] ID"}[sub]
	if synopsis == "" {
		fmt.Fprint(stderr, groupUsage["docs"])
		return usageError{fmt.Sprintf("unknown docs command %q: use list, get or delete", sub)}
	}
	fs := newFlags("docs "+sub, synopsis, stderr)
	nf := newAPIFlags(fs, "http://127.0.0.1:8080", "the node")
	shardName := fs.String("shard", "", "shard (default: the node's default shard)")
	var asJSON *bool
	var limit *int
	if sub != "delete" {
		asJSON = fs.Bool("json", false, "print JSON")
	}
	if sub == "list" {
		limit = fs.Int("limit", 0, "list at most this many (0: all)")
	}
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	c := nf.client()
	switch sub {
	case "list":
		if fs.NArg() != 0 {
			return usageError{fmt.Sprintf("docs list takes no arguments, got %q", fs.Args())}
		}
		return docsList(ctx, c, *shardName, *limit, *asJSON, stdout)
	case "get":
		if fs.NArg() != 1 {
			return usageError{"docs get needs one document ID"}
		}
		var d api.DocumentDetail
		if err := c.Call(ctx, http.MethodGet, docPath(fs.Arg(0), *shardName), nil, &d); err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, d)
		}
		fmt.Fprintf(stdout, "%s (shard %s, %d chunks, ingested %s)\n", d.ID, d.Shard, d.Chunks, d.IngestedAt.Format("2006-01-02 15:04:05Z07:00"))
		if d.Title != "" {
			fmt.Fprintf(stdout, "title: %s\n", d.Title)
		}
		if d.Source != "" {
			fmt.Fprintf(stdout, "source: %s\n", d.Source)
		}
		for k, v := range d.Metadata {
			fmt.Fprintf(stdout, "%s: %s\n", k, v)
		}
		for _, ch := range d.ChunkTexts {
			fmt.Fprintf(stdout, "\n--- chunk %d%s\n%s\n", ch.Position, headingText(ch.Heading), ch.Text)
		}
		return nil
	default: // delete
		if fs.NArg() != 1 {
			return usageError{"docs delete needs one document ID"}
		}
		res, err := c.Delete(ctx, *shardName, fs.Arg(0))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %s from shard %s (now version %d)\n", res.ID, res.Shard, res.ShardVersion)
		return nil
	}
}

func headingText(h string) string {
	if h == "" {
		return ""
	}
	return " · " + h
}

func docPath(id, shardName string) string {
	p := "/v1/documents/" + url.PathEscape(id)
	if shardName != "" {
		p += "?shard=" + url.QueryEscape(shardName)
	}
	return p
}

// docsList prints every document of a shard (or the first limit), a page
// of the API at a time.
func docsList(ctx context.Context, c *api.Client, shardName string, limit int, asJSON bool, stdout io.Writer) error {
	var all []api.DocumentInfo
	after := ""
	for {
		page := api.MaxListLimit
		if limit > 0 {
			page = min(page, limit-len(all))
		}
		q := url.Values{"limit": {strconv.Itoa(page)}}
		if shardName != "" {
			q.Set("shard", shardName)
		}
		if after != "" {
			q.Set("after", after)
		}
		var l api.DocumentList
		if err := c.Call(ctx, http.MethodGet, "/v1/documents?"+q.Encode(), nil, &l); err != nil {
			return err
		}
		all = append(all, l.Documents...)
		if l.Next == "" || (limit > 0 && len(all) >= limit) {
			break
		}
		after = l.Next
	}
	if asJSON {
		return writeJSON(stdout, all)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCHUNKS\tTITLE")
	for _, d := range all {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", d.ID, d.Chunks, strings.Join(strings.Fields(d.Title), " "))
	}
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
