package auth

import (
	"context"

	"github.com/edgerag/edgerag/node/shardstore"
)

// KV is the key space auth keeps its records in: the node's store under
// its own prefix (shardstore.Store.AuthKV). Every write is durable when it
// returns.
type KV interface {
	Put(ctx context.Context, key string, value []byte) error
	Delete(ctx context.Context, key string) error
	// PutDelete sets and deletes in one transaction.
	PutDelete(ctx context.Context, sets map[string][]byte, deletes []string) error
	Scan(ctx context.Context, prefix string, keysOnly bool, fn func(key string, value []byte) error) error
}

// StoreKV adapts the store's auth key space to KV.
func StoreKV(kv *shardstore.SyncKV) KV { return storeKV{kv} }

type storeKV struct{ kv *shardstore.SyncKV }

func (s storeKV) Put(ctx context.Context, key string, value []byte) error {
	return s.kv.Update(ctx, []shardstore.KV{{Key: key, Value: value}}, nil)
}

func (s storeKV) Delete(ctx context.Context, key string) error {
	return s.kv.Update(ctx, nil, []string{key})
}

func (s storeKV) PutDelete(ctx context.Context, sets map[string][]byte, deletes []string) error {
	kvs := make([]shardstore.KV, 0, len(sets))
	for k, v := range sets {
		kvs = append(kvs, shardstore.KV{Key: k, Value: v})
	}
	return s.kv.Update(ctx, kvs, deletes)
}

func (s storeKV) Scan(ctx context.Context, prefix string, keysOnly bool, fn func(key string, value []byte) error) error {
	return s.kv.Scan(ctx, prefix, keysOnly, fn)
}
