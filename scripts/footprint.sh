#!/usr/bin/env bash
# Binary size and idle memory of a node per architecture, from the binaries
# 'make release' put in dist/. Binaries of another architecture run under
# qemu-user (apt-get install qemu-user-static): their RSS then includes
# qemu's own memory, so the figure to compare across architectures is the
# Go runtime's own (heap and total held from the OS, from /v1/status).
# Each node ingests the sample manuals, answers one query, and is measured
# after two idle seconds.
#
#   scripts/footprint.sh [DIST_DIR]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dist=${1:-$root/dist}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/edgerag-footprint.XXXXXX")
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
host_bin="$root/bin/edgerag"
[ -x "$host_bin" ] || { echo "footprint: build bin/edgerag first (make build)" >&2; exit 1; }

printf '%-6s %10s %12s %12s %12s %s\n' arch "size MiB" "heap MiB" "go-sys MiB" "RSS MiB" "how"
for bin in "$dist"/edgerag-*-linux-*; do
	arch=${bin##*-linux-}
	case $arch in
	amd64) run=() how=native ;;
	arm64) run=(qemu-aarch64-static) how="qemu-aarch64" ;;
	armv7) run=(qemu-arm-static) how="qemu-arm" ;;
	*) continue ;;
	esac
	if [ ${#run[@]} -gt 0 ] && ! command -v "${run[0]}" >/dev/null; then
		echo "footprint: ${run[0]} missing; skipping $arch (apt-get install qemu-user-static)" >&2
		continue
	fi
	data=$tmp/$arch
	mkdir -p "$data"
	"${run[@]}" "$bin" serve --data "$data/db" --http 127.0.0.1:0 --ready-file "$data/ready" --log-level warn &
	pid=$!
	for _ in $(seq 300); do [ -s "$data/ready" ] && break; sleep 0.1; done
	[ -s "$data/ready" ] || { echo "footprint: $arch node did not start" >&2; exit 1; }
	url=$(head -1 "$data/ready")
	"$host_bin" ingest --node "$url" --quiet "$root/scripts/sample"
	"$host_bin" query --node "$url" "How do I reset the pump after a fault?" >/dev/null
	sleep 2
	status=$(curl -sf "$url/v1/status")
	heap=$(sed -n 's/.*"heap_bytes":\([0-9]*\).*/\1/p' <<<"$status")
	sys=$(sed -n 's/.*"sys_bytes":\([0-9]*\).*/\1/p' <<<"$status")
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
	size=$(stat -c %s "$bin")
	awk -v a="$arch" -v s="$size" -v h="$heap" -v y="$sys" -v r="$rss" -v how="$how" \
		'BEGIN { printf "%-6s %10.2f %12.1f %12.1f %12.1f %s\n", a, s/1048576, h/1048576, y/1048576, r/1024, how }'
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=
done
