package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/edgerag/edgerag/node/api"
)

func runQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("query", `[flags] "question"`, stderr)
	nf := newAPIFlags(fs, "http://127.0.0.1:8080", "the node")
	k := fs.Int("k", 5, "passages to retrieve")
	shardName := fs.String("shard", "", "ask only this shard")
	asJSON := fs.Bool("json", false, "print the whole response as JSON")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	q := strings.TrimSpace(strings.Join(fs.Args(), " "))
	if q == "" {
		return usageError{`query needs a question, e.g. edgerag query "how do I reset the pump?"`}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	resp, err := nf.client().Query(ctx, api.QueryRequest{Question: q, K: *k, Shard: *shardName})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(resp)
	}
	printAnswer(stdout, resp)
	return nil
}

// printAnswer writes an answer for a person: the text, then the sources.
func printAnswer(w io.Writer, r api.QueryResponse) {
	fmt.Fprintf(w, "%s\n\n", r.Answer)
	fmt.Fprintf(w, "mode: %s · route: %s · confidence: %.2f · %.1f ms\n", r.Mode, r.Route, r.Confidence, r.Timings.TotalMS)
	if r.Degraded {
		// The answer is not the one the node wanted to give: say so, and why.
		fmt.Fprintf(w, "degraded: %s\n", strings.Join(r.Reasons, ", "))
	} else if len(r.Reasons) > 0 {
		fmt.Fprintf(w, "reasons: %s\n", strings.Join(r.Reasons, ", "))
	}
	if len(r.Citations) == 0 {
		return
	}
	fmt.Fprintln(w, "\nSources:")
	for _, c := range r.Citations {
		mark := " "
		if c.Cited {
			mark = "*"
		}
		title := c.Title
		if title == "" {
			title = c.DocumentID
		}
		prov := ""
		if c.Trust != "" && c.Trust != "local" {
			prov = ", " + c.Trust
		}
		if len(c.Flags) > 0 {
			prov += ", flagged: " + strings.Join(c.Flags, ",")
		}
		fmt.Fprintf(w, "%s[%d] %s (%s, score %.2f%s)\n", mark, c.N, title, c.DocumentID, c.Score, prov)
	}
}
