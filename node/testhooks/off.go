//go:build !edgerag_testhooks

package testhooks

import "github.com/edgerag/edgerag/sync/manifest"

// Sync returns no hooks: only a binary built with -tags
// edgerag_testhooks (on.go) has fault injection.
func Sync() (hook func(point string) error, onVerified func(manifest.Hash)) { return nil, nil }
