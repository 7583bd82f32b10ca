// Command s3gateway serves a directory over S3 with versitygw's POSIX
// backend: each subdirectory is a bucket, the root user's keys come from
// ROOT_ACCESS_KEY and ROOT_SECRET_KEY. It is the S3 server the object-store
// tests start (sync/objstore/s3test); scripts/versitygw-server.sh builds it.
//
// It lives in a module of its own so versitygw never enters edgerag's
// dependencies, and it links only the POSIX backend and the S3 front end:
// the full versitygw command also carries the Azure, S3-proxy and plugin
// backends and its admin tools, which double the build.
//
//	s3gateway --port 127.0.0.1:7070 posix DIR
//
// The arguments are the subset of versitygw's own command line the tests
// use, so either binary serves them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/embedgw"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "s3gateway: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("s3gateway", flag.ContinueOnError)
	port := fs.String("port", ":7070", "address to serve S3 on, host:port")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 || fs.Arg(0) != "posix" {
		return errors.New("usage: s3gateway [--port HOST:PORT] posix DIR")
	}
	dir := fs.Arg(1)
	access, secret := os.Getenv("ROOT_ACCESS_KEY"), os.Getenv("ROOT_SECRET_KEY")
	if access == "" || secret == "" {
		return errors.New("set ROOT_ACCESS_KEY and ROOT_SECRET_KEY to the root user's keys")
	}
	if err := (meta.XattrMeta{}).Test(dir); err != nil {
		return fmt.Errorf("%s must support extended attributes (user.*), where the gateway keeps object metadata: %w", dir, err)
	}
	// versitygw's own defaults for these.
	opts := posix.PosixOpts{Concurrency: 5000, CopyObjectThreshold: 5 << 30}
	opts.SetNewDirPerm(0o755)
	opts.SetNewFilePerm(0o644)
	be, err := posix.New(dir, meta.XattrMeta{}, opts)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}

	// RunVersityGW shuts the backend down when it returns.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = embedgw.RunVersityGW(ctx, be, &embedgw.Config{
		RootUserAccess:    access,
		RootUserSecret:    secret,
		Ports:             []string{*port},
		MaxConnections:    250000,
		MaxRequests:       100000,
		MultipartMaxParts: 10000,
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
