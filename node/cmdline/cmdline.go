// Package cmdline is what the commands of the edgerag binary share besides
// the names of their flags: flag sets that take flags after positional
// arguments, flag values checked when they are set, the API client a
// command reaches a node with (token, CA), and the sizes, lists and log
// settings the node commands parse. Package main imports it, and
// node/agent for the checked flag values of the daemon's flags.
package cmdline

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/auth"
	"github.com/edgerag/edgerag/sync/pki"
)

// NewFlags returns a flag set that reports errors instead of exiting, with
// a usage line naming the command.
func NewFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: edgerag %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// UsageError is an error in how a command was called: the command prints
// its usage after it and exits with status 2.
type UsageError struct{ Msg string }

func (e UsageError) Error() string { return e.Msg }

// ParseNoArgs parses args as Parse does, for a command that takes flags
// only: a positional argument is a UsageError naming the command.
func ParseNoArgs(fs *flag.FlagSet, args []string) error {
	if err := Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return UsageError{fmt.Sprintf("%s takes no arguments, got %q", fs.Name(), fs.Args())}
	}
	return nil
}

// Parse parses args allowing flags after positional arguments
// ("edgerag eval DIR --json"), which the flag package alone stops at. A
// lone "--" still ends the flags.
func Parse(fs *flag.FlagSet, args []string) error {
	var flags, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // Parse reports it
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return fs.Parse(append(append(flags, "--"), positional...))
}

// Credential picks the token a command sends: token, then $EDGERAG_TOKEN,
// then the admin.token in the data directory. None is not an error: a node
// granting anonymous access answers queries without one, and one that does
// not says so.
func Credential(token, dataDir string) (string, error) {
	if token != "" {
		return token, nil
	}
	if t := strings.TrimSpace(os.Getenv("EDGERAG_TOKEN")); t != "" {
		return t, nil
	}
	if dataDir != "" {
		t, err := auth.ReadTokenFile(dataDir)
		if err != nil {
			return "", err
		}
		if t == "" {
			return "", fmt.Errorf("no %s in %s: has the node started there? (or pass --token)", auth.TokenFile, dataDir)
		}
		return t, nil
	}
	return "", nil
}

// APIFlags are the flags of every command that talks to a node's HTTP
// API: where it is, the credential to send, and the CA of an HTTPS node.
type APIFlags struct {
	URL, token, data, cacert string
}

// AddAPIFlags registers the flags on fs; defaultURL is where the node
// usually listens, what names it in the help ("central").
func AddAPIFlags(fs *flag.FlagSet, defaultURL, what string) *APIFlags {
	o := &APIFlags{}
	fs.StringVar(&o.URL, "node", defaultURL, "URL of "+what+"'s HTTP API")
	fs.StringVar(&o.token, "token", "", "API token (default: $EDGERAG_TOKEN, else DATA/admin.token when --data is given)")
	fs.StringVar(&o.data, "data", "", "the node's data directory on this machine, to send the admin token it wrote there")
	fs.StringVar(&o.cacert, "cacert", "", "CA certificate (PEM) of an https:// node, e.g. the fleet's ca.crt")
	return o
}

// Client is the node's API client with the credential (--token,
// $EDGERAG_TOKEN, DATA/admin.token) and the CA of an https:// node.
func (o *APIFlags) Client() *api.Client { return Client(o.URL, o.token, o.data, o.cacert) }

// Client is the node's API client at url with the credential (Credential)
// and, for an https:// node, the CA in the PEM file cacert. A credential
// or CA that cannot be read is reported on the first call, as the error it
// is, where the command reports any failure to reach the node.
func Client(url, token, dataDir, cacert string) *api.Client {
	hc := http.DefaultClient
	var setupErr error
	if cacert != "" {
		pem, err := os.ReadFile(cacert)
		pool := x509.NewCertPool()
		if err == nil && !pool.AppendCertsFromPEM(pem) {
			err = fmt.Errorf("%s holds no PEM certificate", cacert)
		}
		if err != nil {
			setupErr = fmt.Errorf("--cacert: %w", err)
		}
		hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	}
	tok, err := Credential(token, dataDir)
	if err != nil {
		setupErr = err
	}
	if setupErr != nil {
		hc = &http.Client{Transport: failing{setupErr}}
	}
	c := api.NewClient(url, hc)
	c.Token = tok
	return c
}

// failing is a transport that refuses every request with err.
type failing struct{ err error }

func (f failing) RoundTrip(*http.Request) (*http.Response, error) { return nil, f.err }

// CheckLogLevel accepts what slog parses: debug, info, warn, error, in any
// case, with an optional offset such as info+2.
func CheckLogLevel(s string) error {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(s)); err != nil {
		return fmt.Errorf("%q: use debug, info, warn or error", s)
	}
	return nil
}

// CheckLogFormat accepts text or json, in any case.
func CheckLogFormat(s string) error {
	switch strings.ToLower(s) {
	case "text", "json":
		return nil
	}
	return fmt.Errorf("%q is not one of text, json", s)
}

// NewLogger is the node's logger at level in format (text or json), each
// record carrying its request id (api.NewLogHandler).
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(api.NewLogHandler(slog.NewTextHandler(w, opts))), nil
	case "json":
		return slog.New(api.NewLogHandler(slog.NewJSONHandler(w, opts))), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}

// ParseBytes reads sizes like 512MiB, 96MB, 1GiB or a plain byte count.
func ParseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("want a positive size such as 96MiB or 1GiB")
	}
	return n * mult, nil
}

// SplitList splits a comma-separated flag, dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// DefaultName is the host name when it is a valid node name, else the
// role.
func DefaultName(role string) string {
	h, err := os.Hostname()
	if err != nil || pki.ValidName(h) != nil {
		return role
	}
	return h
}

// IsHelp reports whether a is a request for help.
func IsHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// WantsHelp reports whether the command line asks for help before any
// "--".
func WantsHelp(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if IsHelp(a) {
			return true
		}
	}
	return false
}

// HideFlags sets the usage of fs to synopsis and its flags but hidden:
// flags a command accepts, so that one configuration file can serve two
// commands, but that do nothing for it.
func HideFlags(fs *flag.FlagSet, synopsis string, hidden ...string) {
	fs.Usage = func() {
		shown := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
		shown.SetOutput(fs.Output())
		fs.VisitAll(func(f *flag.Flag) {
			if !slices.Contains(hidden, f.Name) {
				shown.Var(f.Value, f.Name, f.Usage)
			}
		})
		fmt.Fprintf(fs.Output(), "Usage: edgerag %s %s\n\nFlags:\n", fs.Name(), synopsis)
		shown.PrintDefaults()
	}
}

// SetMemoryLimit sets the Go heap's soft limit to a size such as 96MiB
// (ParseBytes); "" leaves it to $GOMEMLIMIT.
func SetMemoryLimit(size string) error {
	if size == "" {
		return nil
	}
	limit, err := ParseBytes(size)
	if err != nil {
		return fmt.Errorf("--memory-limit %q: %v", size, err)
	}
	debug.SetMemoryLimit(limit)
	return nil
}

// WriteFile writes path from write only once it is complete: into a
// temporary file beside it, synced, then renamed over path, so that a
// failed or interrupted write leaves no partial file behind.
func WriteFile(path string, write func(io.Writer) (int64, error)) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".partial-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	n, err := write(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	return n, err
}

// Given reports whether the flag name was set on the command line.
func Given(fs *flag.FlagSet, name string) (set bool) {
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// Print prints a command's answer r: as JSON with --json (asJSON), else
// as print writes it for a person. err, a failed call, is returned
// instead.
func Print[T any](stdout io.Writer, asJSON bool, r T, err error, print func() error) error {
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(r)
	}
	return print()
}
