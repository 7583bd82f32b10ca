// Package keyops runs the gossip keyring's operations across a pool through
// a node's HTTP API: each one until every member answered, and a rotation
// that never leaves two members unable to read each other. 'edgerag keys'
// imports it.
package keyops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/membership"
)

// List writes the keys in use across the pool, one line each with how many
// members hold it and on how many it is the primary. Only a prefix of each
// key is shown: the list is for telling keys apart, not for copying them.
func List(ctx context.Context, c *api.Client, w io.Writer) error {
	res, err := Call(ctx, c, "list", "")
	if err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(res.Keys)) {
		primary := ""
		if p := res.Primary[k]; p > 0 {
			primary = fmt.Sprintf(", primary on %d", p)
		}
		fmt.Fprintf(w, "%s…  on %d of %d members%s\n", k[:min(8, len(k))], res.Keys[k], res.Nodes, primary)
	}
	return nil
}

// Call runs a keyring operation (list, install, use, remove) and insists
// that every member answered: a key installed on only some members would
// cut the others off once it is used. Serf asks the members with a gossip
// query, which a member busy rejoining can miss, and every operation is
// idempotent, so a partial answer is retried a few times before it is an
// error.
func Call(ctx context.Context, c *api.Client, op, key string) (membership.KeyResult, error) {
	var res membership.KeyResult
	var err error
	for try := 0; try < 3; try++ {
		if try > 0 {
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return res, fmt.Errorf("%s: %w", op, ctx.Err())
			}
		}
		res = membership.KeyResult{}
		err = c.Keys(ctx, membership.KeyRequest{Op: op, Key: key}, &res)
		if err == nil && (res.Failed > 0 || res.Answered < res.Nodes) {
			err = fmt.Errorf("%d of %d members answered, %d failed: %v", res.Answered, res.Nodes, res.Failed, res.Messages)
		}
		if err == nil {
			return res, nil
		}
	}
	return res, fmt.Errorf("%s: %w (members that were down need the new keyring file copied to them)", op, err)
}

// ErrBadKey is a new key that cannot be used: not a key, or the one in use.
var ErrBadKey = errors.New("bad key")

// Rotate moves the pool to key (empty: a new one) without a moment where
// two members cannot understand each other: install the new key everywhere
// (all members then read both), make it primary (they send with it), wait
// the overlap so that stragglers (a member that was busy or had a queued
// message) still get through with the old key, then remove the old key.
// Each step is reported on w.
func Rotate(ctx context.Context, c *api.Client, key string, overlap time.Duration, w io.Writer) error {
	list, err := Call(ctx, c, "list", "")
	if err != nil {
		return err
	}
	if len(list.Primary) != 1 {
		return fmt.Errorf("members disagree on the primary key (%d primaries); finish the previous rotation first", len(list.Primary))
	}
	var old string
	for k := range list.Primary {
		old = k
	}
	if key == "" {
		if key, err = membership.GenerateKey(); err != nil {
			return err
		}
	}
	if _, err := membership.DecodeKey(key); err != nil {
		return fmt.Errorf("%w: --key: %v", ErrBadKey, err)
	}
	if key == old {
		return fmt.Errorf("%w: --key is the key already in use", ErrBadKey)
	}
	res, err := Call(ctx, c, "install", key)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "installed the new key on %d members\n", res.Answered)
	if res, err = Call(ctx, c, "use", key); err != nil {
		return err
	}
	fmt.Fprintf(w, "the new key is primary on %d members; the old one still works for %s\n", res.Answered, overlap)
	select {
	case <-time.After(overlap):
	case <-ctx.Done():
		return fmt.Errorf("interrupted during the overlap: both keys stay installed; run 'edgerag keys rotate' again or remove the old key later: %w", ctx.Err())
	}
	if res, err = Call(ctx, c, "remove", old); err != nil {
		return err
	}
	fmt.Fprintf(w, "removed the old key from %d members; members rewrote their keyring files\n", res.Answered)
	return nil
}
