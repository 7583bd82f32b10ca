//go:build !edgerag_testhooks

package main

import "github.com/edgerag/edgerag/sync/manifest"

// testHooks returns no hooks: only a binary built with -tags
// edgerag_testhooks (testhooks.go) has fault injection.
func testHooks() (hook func(point string) error, onVerified func(manifest.Hash)) { return nil, nil }
