// Package nodetest is the test support of the node and the fleet: one
// WaitFor, one way to open a node, and one fleet harness — central and edges
// assembled by node/agent in one process, on loopback, over real QUIC with
// mutual TLS from a throwaway CA. Tests of any package use it, and so does
// 'edgerag eval --fleet'; it does not import testing, so that the binary
// does not carry it.
package nodetest

import (
	"context"
	"time"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/nodetest/waitfor"
)

// TB is the part of testing.TB the helpers use.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	TempDir() string
	Cleanup(func())
}

// WaitFor polls cond until it holds, and fails t when timeout passes
// first, saying what it waited for (waitfor.Until).
func WaitFor(t TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	waitfor.Until(t, timeout, what, cond)
}

// OpenNode opens a node from cfg, in a temporary directory unless
// cfg.DataDir is set, without fsync (NoSync), and closes it at cleanup.
func OpenNode(t TB, cfg node.Config) *node.Node {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.NoSync = true
	n, err := node.New(cfg)
	if err != nil {
		t.Fatalf("new node: %v", err)
	}
	if err := n.Open(context.Background()); err != nil {
		t.Fatalf("open node: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}
