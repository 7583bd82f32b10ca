package shardstore

import (
	"fmt"
	"log/slog"
	"math/bits"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// memTableSize is the size of each of Badger's two memtables (see
// badgerOptions).
const memTableSize = 12 << 20

// badgerOptions returns Badger settings for a device with 1 GB of RAM that
// also runs a model server. Badger's defaults (five 64 MB memtables, a 256 MB
// block cache, 1 GB value-log files mapped at twice their size) were measured
// here at 909 MB resident for 100k chunks; these settings hold the same data
// in a few tens of MB and ingest faster.
func badgerOptions(dir string, syncWrites, readOnly bool, log *slog.Logger) badger.Options {
	o := badger.DefaultOptions(dir).
		// Two 12 MB memtables: enough to absorb an ingest batch while one
		// flushes, and a transaction may be 15% of a memtable (1.8 MB), which
		// holds the largest document (1 MiB of text) with its term vectors.
		// Each memtable's arena is allocated whole, so this is also ~30 MB
		// of the node's resident memory.
		WithMemTableSize(memTableSize).
		WithNumMemtables(2).
		// Flush level 0 early and stall late: small L0 keeps reads cheap,
		// the stall margin keeps an ingest burst from blocking writers.
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		// Values over 256 bytes (chunk texts, term vectors, document
		// records) go to the value log, written once; the LSM tree keeps
		// keys, pointers and the small values (dictionary, shard records).
		// With them inline (4 KB, before), every compaction copied every
		// text again: building 100k chunks, Badger's table builders held
		// 128 of the ingest's 197 MB of live heap, and at 1M their copying
		// was the ingest's largest CPU item. Start-up reads no value unless
		// a shard has no current index snapshot; then the rebuild follows
		// pointers.
		WithValueThreshold(256).
		// 64 MB value-log files: GC rewrites one file at a time, so small
		// files reclaim space in small steps; they are also mapped at twice
		// their size, which a 32-bit address space cannot afford at 1 GB.
		WithValueLogFileSize(vlogFileSize()).
		// No compression and no block cache: chunk text compresses poorly
		// per 4 KB block, compression put ~190 MB of heap in table builders
		// when measured, and Badger requires a block cache for it. Reads go
		// through the OS page cache instead, which the kernel can reclaim.
		WithCompression(options.None).
		WithBlockCacheSize(0).
		// A bounded index cache keeps table indexes off the Go heap's
		// growth path; 16 MB covers the tables of a few GB of data.
		WithIndexCacheSize(16 << 20).
		WithNumCompactors(2).
		WithMetricsEnabled(false).
		// Writers are serialised by the store, so conflict detection would
		// only cost memory.
		WithDetectConflicts(false).
		// An acknowledged write must survive power loss, not only a crash of
		// the process: edge devices lose power. Callers batch writes so the
		// fsync per commit is amortised.
		WithSyncWrites(syncWrites).
		WithReadOnly(readOnly).
		WithLogger(badgerLogger{log})
	return o
}

// vlogFileSize is smaller on 32-bit platforms, where Badger maps each value
// log file at twice its size inside a 3 GB address space.
func vlogFileSize() int64 {
	if bits.UintSize == 32 {
		return 16 << 20
	}
	return 64 << 20
}

// badgerLogger sends Badger's own log lines to slog. Badger is chatty at info
// level (every compaction), so info goes to debug.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.l.Error("badger", "msg", fmt.Sprintf(f, a...)) }
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warn("badger", "msg", fmt.Sprintf(f, a...)) }
func (b badgerLogger) Infof(f string, a ...any)    { b.l.Debug("badger", "msg", fmt.Sprintf(f, a...)) }
func (b badgerLogger) Debugf(f string, a ...any)   { b.l.Debug("badger", "msg", fmt.Sprintf(f, a...)) }
