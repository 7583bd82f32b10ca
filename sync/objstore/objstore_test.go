package objstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/sync/objstore"
	"github.com/edgerag/edgerag/sync/objstore/s3test"
)

// These tests run against a real S3-compatible server (versitygw, started
// by s3test); without its binary they skip, saying how to build it.

func TestParseURL(t *testing.T) {
	for _, tc := range []struct{ in, bucket, prefix, err string }{
		{in: "s3://fleet", bucket: "fleet"},
		{in: "s3://fleet/central/prod/", bucket: "fleet", prefix: "central/prod/"},
		{in: "s3://fleet/v", bucket: "fleet", prefix: "v/"},
		{in: "gs://fleet", err: "scheme"},
		{in: "s3:///x", err: "want s3://bucket/prefix"},
		{in: "s3://key:secret@fleet", err: objstore.EnvAccessKey},
	} {
		b, p, err := objstore.ParseURL(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseURL(%q) error %v, want one saying %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || b != tc.bucket || p != tc.prefix {
			t.Errorf("ParseURL(%q) = %q, %q, %v", tc.in, b, p, err)
		}
	}
}

func TestBucketAgainstRealServer(t *testing.T) {
	s := s3test.Start(t, "fleet")
	ctx := context.Background()
	b := s.Open(t, "s3://fleet/central")

	if _, err := b.Get(ctx, "m/none"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
	}
	if err := b.PutOnce(ctx, "m/a/1", []byte("signed v1")); err != nil {
		t.Fatal(err)
	}
	if err := b.PutOnce(ctx, "m/a/1", []byte("signed v1")); err != nil {
		t.Errorf("the same content again (a retried publish): %v", err)
	}
	if err := b.PutOnce(ctx, "m/a/1", []byte("another v1")); !errors.Is(err, objstore.ErrExists) {
		t.Errorf("other content under a written key: %v, want ErrExists", err)
	}
	if got, err := b.Get(ctx, "m/a/1"); err != nil || string(got) != "signed v1" {
		t.Errorf("Get = %q, %v; the first write must stand", got, err)
	}
	for _, v := range []string{"1", "2"} {
		if err := b.Put(ctx, "l/a", []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := b.Get(ctx, "l/a"); string(got) != "2" {
		t.Errorf("pointer = %q after two writes, want the second", got)
	}
	var keys []string
	if err := b.List(ctx, "", func(k string) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{"l/a", "m/a/1"}) {
		t.Errorf("List = %v; want the keys without the prefix", keys)
	}
	if err := b.Delete(ctx, []string{"m/a/1", "m/none"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "m/a/1"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("after Delete: %v", err)
	}

	// What an operator gets wrong is named.
	if _, err := objstore.Open(ctx, s.Config("s3://no-such-bucket")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing bucket: %v", err)
	}
	bad := s.Config("s3://fleet")
	bad.SecretKey = "wrong"
	if _, err := objstore.Open(ctx, bad); err == nil || !strings.Contains(err.Error(), objstore.EnvSecretKey) {
		t.Errorf("wrong secret: %v", err)
	}
}

// memKV is a replica's local store for these tests; the process tests use
// the node's real one.
type memKV struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (m *memKV) Get(k string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.m[k]; ok {
		return v, nil
	}
	return nil, shard.ErrNotFound
}

func (m *memKV) GetMany(keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i], _ = m.Get(k)
	}
	return out, nil
}

func (m *memKV) Update(_ context.Context, sets []shard.KV, deletes []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range sets {
		m.m[s.Key] = s.Value
	}
	for _, d := range deletes {
		delete(m.m, d)
	}
	return nil
}

func (m *memKV) Scan(_ context.Context, prefix string, _ bool, fn func(string, []byte) error) error {
	m.mu.Lock()
	var keys []string
	for k := range m.m {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	m.mu.Unlock()
	sort.Strings(keys)
	for _, k := range keys {
		v, _ := m.Get(k)
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

func TestKVSharesPublishedKeysBetweenReplicas(t *testing.T) {
	s := s3test.Start(t, "fleet")
	ctx := context.Background()
	localA, localB := &memKV{m: map[string][]byte{}}, &memKV{m: map[string][]byte{}}
	a := objstore.NewKV(s.Open(t, "s3://fleet/p"), localA, 50*time.Millisecond)
	b := objstore.NewKV(s.Open(t, "s3://fleet/p"), localB, 50*time.Millisecond)

	sets := []shard.KV{
		{Key: "r/0001", Value: []byte("record one")},
		{Key: "r/0002", Value: []byte("record two")},
		{Key: "m/manuals/00000000000000000007", Value: []byte("signed manifest 7")},
		{Key: "l/manuals", Value: []byte("7")},
		{Key: "a/manuals/edge-1", Value: []byte(`{"version":6}`)}, // an edge's report: this replica's own
	}
	if err := a.Update(ctx, sets, nil); err != nil {
		t.Fatal(err)
	}
	// B, which wrote nothing, serves A's version.
	got, err := b.GetMany([]string{"r/0001", "r/0002", "r/0003", "m/manuals/00000000000000000007"})
	if err != nil {
		t.Fatal(err)
	}
	if string(got[0]) != "record one" || string(got[1]) != "record two" || got[2] != nil || string(got[3]) != "signed manifest 7" {
		t.Errorf("B reads %q", got)
	}
	if _, ok := localB.m["r/0001"]; !ok {
		t.Error("B did not keep the record it read (they never change)")
	}
	var latest []string
	if err := b.Scan(ctx, "l/", false, func(k string, v []byte) error { latest = append(latest, k+"="+string(v)); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(latest, []string{"l/manuals=7"}) {
		t.Errorf("B's latest versions %v", latest)
	}
	if _, err := b.Get("a/manuals/edge-1"); !errors.Is(err, shard.ErrNotFound) {
		t.Errorf("A's edge report reached B's key space: %v", err)
	}
	if _, err := b.Get("m/manuals/00000000000000000008"); !errors.Is(err, shard.ErrNotFound) {
		t.Errorf("missing manifest: %v, want shard.ErrNotFound", err)
	}

	// A second publisher writing other content under a published version
	// is refused; A's version stands.
	err = b.Update(ctx, []shard.KV{{Key: "m/manuals/00000000000000000007", Value: []byte("forged 7")}}, nil)
	if !errors.Is(err, objstore.ErrExists) || !strings.Contains(err.Error(), "one replica") {
		t.Errorf("conflicting publish: %v", err)
	}

	// A newer pointer reaches B within the TTL.
	if err := a.Update(ctx, []shard.KV{{Key: "m/manuals/00000000000000000008", Value: []byte("signed 8")}, {Key: "l/manuals", Value: []byte("8")}}, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	if v, err := b.Get("l/manuals"); err != nil || string(v) != "8" {
		t.Errorf("B's pointer after the TTL: %q, %v", v, err)
	}

	// Deletes reach the bucket.
	if err := a.Update(ctx, nil, []string{"m/manuals/00000000000000000007", "r/0002"}); err != nil {
		t.Fatal(err)
	}
	var ms []string
	if err := a.Scan(ctx, "m/manuals/", true, func(k string, _ []byte) error { ms = append(ms, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ms, []string{"m/manuals/00000000000000000008"}) {
		t.Errorf("manifests after delete %v", ms)
	}
	if err := a.Scan(ctx, "", true, func(string, []byte) error { return nil }); err == nil {
		t.Error("a scan mixing both stores was accepted")
	}
}

// BenchmarkPublishedRead measures reading 100 published records a replica
// has not cached (from the bucket) against ones it has (local).
func BenchmarkPublishedRead(b *testing.B) {
	s := s3test.Start(b, "fleet")
	ctx := context.Background()
	w := objstore.NewKV(s.Open(b, "s3://fleet/bench"), &memKV{m: map[string][]byte{}}, 0)
	keys := make([]string, 100)
	sets := make([]shard.KV, 100)
	for i := range keys {
		keys[i] = fmt.Sprintf("r/%04d", i)
		sets[i] = shard.KV{Key: keys[i], Value: []byte(strings.Repeat("x", 700))}
	}
	if err := w.Update(ctx, sets, nil); err != nil {
		b.Fatal(err)
	}
	for _, cached := range []bool{false, true} {
		b.Run(fmt.Sprintf("cached=%v", cached), func(b *testing.B) {
			for b.Loop() {
				local := &memKV{m: map[string][]byte{}}
				r := objstore.NewKV(s.Open(b, "s3://fleet/bench"), local, 0)
				if cached {
					r.GetMany(keys)
				}
				if _, err := r.GetMany(keys); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
