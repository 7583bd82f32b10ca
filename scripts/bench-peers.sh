#!/bin/sh
# bench-peers.sh — edgerag's BM25 beside Xapian and bleve on the same corpora
# (`make bench-peers`). For each size it exports the synthetic corpus once,
# analysed by edgerag (so every engine indexes the same terms), then for
# each engine in turn, each in its own process: ingest (fsync on, commits of
# 4,000 chunks), then open and answer the same 2,000 questions top-10. It
# prints wall and CPU time side by side, peak and serving RSS, and disk.
#
#   SIZES="10000 100000"   chunk counts (add 1000000 for the slow 1M row)
#   BENCH_DIR=…            where corpora and indexes live (reused across runs)
#   REUSE=1                keep indexes already built: query figures only
#   MEMORY_LIMIT=268435456 edgerag's --memory-limit while serving (256 MiB)
#   INGEST_MEMORY_LIMIT=524288000  ... while ingesting (500 MiB: under 256 MiB
#                          the collector ran nearly back to back at 1M chunks,
#                          a third of the ingest's CPU in GC and madvise)
#   PIN=1                  pin every engine to CPU 1 with taskset
#   ENGINES="edgerag xapian bleve"  the engines to run
#   SCREEN=true            run edgerag's trust screen at ingest (off: the peers have none)
#   PEER_TEXTS=0           the peers index without storing the chunk texts
#                          (default: they store them, as edgerag does, so
#                          disk compares like with like)
#
# Needs Debian's python3-xapian (apt-get install python3-xapian) and the Go
# module proxy for bleve, which builds from its own module under
# scripts/benchpeers/bleve so it never enters edgerag's dependencies.
set -eu
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"10000 100000"}
ENGINES=${ENGINES:-"edgerag xapian bleve"}
BENCH_DIR=${BENCH_DIR:-${EDGERAG_CACHE:-$HOME/.cache/edgerag}/bench-peers}
MEMORY_LIMIT=${MEMORY_LIMIT:-268435456}
INGEST_MEMORY_LIMIT=${INGEST_MEMORY_LIMIT:-524288000}
GO=${GO:-go}
PY=/usr/bin/python3
$PY -c 'import xapian' 2>/dev/null || { echo "bench-peers: python3-xapian is missing: apt-get install python3-xapian" >&2; exit 1; }
mkdir -p "$BENCH_DIR/bin"
$GO build -o "$BENCH_DIR/bin/benchpeers" ./scripts/benchpeers
(cd scripts/benchpeers/bleve && $GO build -o "$BENCH_DIR/bin/bleve" .)
run() { if [ "${PIN:-0}" = 1 ]; then taskset -c 1 "$@"; else "$@"; fi; }
out="$BENCH_DIR/results-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
{
	echo "{\"step\":\"machine\",\"date\":\"$(date -u +%FT%TZ)\",\"cpus\":$(nproc),\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"kernel\":\"$(uname -r)\",\"go\":\"$($GO env GOVERSION)\",\"commit\":\"$(git rev-parse --short HEAD)\"}"
} >"$out"
for n in $SIZES; do
	d="$BENCH_DIR/$n"
	if [ ! -s "$d/chunks.txt" ] || [ ! -s "$d/texts.txt" ]; then
		"$BENCH_DIR/bin/benchpeers" export -chunks "$n" -out "$d" >/dev/null
	fi
	texts="$d/texts.txt"
	[ "${PEER_TEXTS:-1}" = 1 ] || texts=
	for e in $ENGINES; do
		if [ "${REUSE:-0}" != 1 ] || [ ! -d "$d/$e" ]; then
			rm -rf "${d:?}/${e:?}"
			case $e in
			edgerag) run "$BENCH_DIR/bin/benchpeers" ingest -chunks "$n" -data "$d/$e" -memory-limit "$INGEST_MEMORY_LIMIT" -screen="${SCREEN:-false}" ;;
			xapian) run $PY scripts/bench-peers-xapian.py ingest "$d/chunks.txt" "$d/$e" ${texts:+"$texts"} ;;
			bleve) run "$BENCH_DIR/bin/bleve" ingest "$d/chunks.txt" "$d/$e" ${texts:+"$texts"} ;;
			esac | sed "s/^{/{\"size\":$n,\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\",/" >>"$out"
		fi
	done
	for e in $ENGINES; do
		case $e in
		edgerag) run "$BENCH_DIR/bin/benchpeers" query -data "$d/$e" -questions "$d/questions.txt" -memory-limit "$MEMORY_LIMIT" ;;
		xapian) run $PY scripts/bench-peers-xapian.py query "$d/$e" "$d/queries.txt" ;;
		bleve) run "$BENCH_DIR/bin/bleve" query "$d/$e" "$d/queries.txt" ;;
		esac | sed "s/^{/{\"size\":$n,\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\",/" >>"$out"
	done
done
echo "results: $out"
$PY scripts/bench-peers-table.py "$out"
