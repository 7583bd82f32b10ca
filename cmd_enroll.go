package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/edgerag/edgerag/node/cmdline"
	"github.com/edgerag/edgerag/sync/enroll"
)

// runEnroll handles 'edgerag enroll': a new device joins the fleet.
func runEnroll(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cmdline.NewFlags("enroll", "--central HOST:PORT --token TOKEN --ca-fingerprint FP [--data DIR] [--name NAME]", stderr)
	var o enroll.Options
	fs.StringVar(&o.Central, "central", "", "central's enrollment address (by default its --quic host:port)")
	fs.StringVar(&o.Token, "token", "", "one-time enrollment token ('edgerag cert enroll-token NAME' on central)")
	fs.StringVar(&o.Fingerprint, "ca-fingerprint", "", "fingerprint of the fleet CA, to verify central ('edgerag ca fingerprint' or the token command print it)")
	fs.StringVar(&o.CAFile, "ca-file", "", "the fleet's ca.crt, to verify central (instead of --ca-fingerprint)")
	fs.StringVar(&o.Name, "name", "", "node name the token was made for (checked when given)")
	data := fs.String("data", "", "the node's data directory: the key and certificates go to DATA/tls")
	tlsDir := fs.String("tls-dir", "", "where the key and certificates go (default DATA/tls); give it to serve as --tls-dir")
	if err := cmdline.Parse(fs, args); err != nil {
		return err
	}
	o.Dir = *tlsDir
	if o.Dir == "" && *data != "" {
		o.Dir = filepath.Join(*data, "tls")
	}
	if o.Central == "" || o.Token == "" || o.Dir == "" {
		return usageError("enroll needs --central, --token and --data (or --tls-dir)")
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	r, err := enroll.Enroll(ctx, o)
	if err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	next := "--tls-dir " + r.Dir
	if *tlsDir == "" {
		next = "--data " + *data // serve finds DATA/tls
	}
	fmt.Fprintf(stdout, "enrolled as %s (%s): key and certificate in %s, valid until %s; run 'edgerag serve %s --name %s ...', which renews it\n",
		r.Name, r.Role, r.Dir, r.NotAfter.Local().Format(time.RFC3339), next, r.Name)
	return nil
}
