package main

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/auth"
)

// Every node a test starts writes its bootstrap admin token to
// DATA/admin.token. The helpers below are the one place tests learn it:
// startProc registers each node's token under its URL, and testClient,
// testGet and tokenOf send it, so a test talks to a node as its operator
// would, with the admin token, and the refusals have tests of their own.

// credentials maps a node's base URL to its admin token.
var credentials sync.Map

var tokenLogLine = regexp.MustCompile(`admin token written.*?file[=":]+([^"\s]+)`)

// registerToken reads the admin token of the node at url, started with
// args (its --data, else the path its log names), and remembers it.
func registerToken(tb testing.TB, url string, args []string, logs *syncBuffer) {
	tb.Helper()
	var path string
	for i, a := range args {
		if a == "--data" && i+1 < len(args) {
			path = filepath.Join(args[i+1], auth.TokenFile)
		} else if v, ok := strings.CutPrefix(a, "--data="); ok {
			path = filepath.Join(v, auth.TokenFile)
		}
	}
	if path == "" && logs != nil {
		if m := tokenLogLine.FindStringSubmatch(logs.String()); m != nil {
			path = m[1]
		}
	}
	if path == "" {
		tb.Fatalf("cannot tell where the node at %s keeps its admin token (no --data, no log line)", url)
	}
	var b []byte
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, err = os.ReadFile(path); err == nil {
			break
		}
	}
	if err != nil {
		tb.Fatalf("admin token of the node at %s: %v", url, err)
	}
	credentials.Store(url, strings.TrimSpace(string(b)))
}

// tokenOf returns the admin token of the node at url ("" if unknown).
func tokenOf(url string) string {
	t, _ := credentials.Load(url)
	s, _ := t.(string)
	return s
}

// testClient is the API client of the node at url, with its admin token.
func testClient(url string) *api.Client {
	c := api.NewClient(url, nil)
	c.Token = tokenOf(url)
	return c
}

// testGet GETs url (a node's base URL plus a path) with the node's token.
func testGet(url string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	authorize(req)
	return http.DefaultClient.Do(req)
}

// authorize adds the admin token of the node req goes to.
func authorize(req *http.Request) {
	base := req.URL.Scheme + "://" + req.URL.Host
	if t := tokenOf(base); t != "" {
		req.Header.Set("Authorization", "Bearer "+t)
	}
}
