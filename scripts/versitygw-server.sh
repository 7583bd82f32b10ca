#!/usr/bin/env bash
# versitygw-server.sh builds the real versitygw S3 gateway (Apache-2.0, S3 over
# a POSIX directory) once per version and prints the binary's path as the last
# line on stdout; progress goes to stderr.
#
# The object-store tests (sync/objstore/s3test) start this binary on loopback:
# an S3-compatible server that really speaks S3, not an in-process fake. The
# build takes minutes, so the result is cached by version under
#   ${EDGERAG_CACHE:-$HOME/.cache/edgerag}/versitygw/<version>/bin/versitygw
# and a second run only prints that path.
#
# Usage: scripts/versitygw-server.sh        (called by `make versitygw` and `make test`)
set -euo pipefail

readonly VERSITYGW_VERSION=v1.8.0

cache_root="${EDGERAG_CACHE:-$HOME/.cache/edgerag}"
cache="$cache_root/versitygw/$VERSITYGW_VERSION"
bin="$cache/bin/versitygw"

log() { printf 'versitygw-server.sh: %s\n' "$*" >&2; }
die() {
	printf 'versitygw-server.sh: cannot build versitygw %s: %s\n' "$VERSITYGW_VERSION" "$*" >&2
	exit 1
}

if [[ -x "$bin" ]]; then
	printf '%s\n' "$bin"
	exit 0
fi

command -v go >/dev/null 2>&1 || die "go is not on PATH; install Go 1.26 or newer"
mkdir -p "$cache" 2>/dev/null || die "cannot create $cache; set EDGERAG_CACHE to a writable directory"

# A second concurrent run waits for the first and then takes the fast path.
exec 9>"$cache/.lock"
if command -v flock >/dev/null 2>&1; then
	flock 9
fi
if [[ -x "$bin" ]]; then
	printf '%s\n' "$bin"
	exit 0
fi

# Build outside any module so the caller's go.mod and go.sum stay untouched,
# into a scratch directory so an interrupted build leaves no half binary.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOBIN="$work/bin"
export CGO_ENABLED=0

log "building github.com/versity/versitygw@$VERSITYGW_VERSION once: about 4 minutes on an idle 2-core machine, more on a busy one; later runs reuse it"
start=$SECONDS
(cd "$work" && go install -trimpath "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION") >&2 ||
	die "go install failed (see the output above); check access to the Go module proxy"
[[ -x "$work/bin/versitygw" ]] || die "go install produced no binary at $work/bin/versitygw"

mkdir -p "$cache/bin"
mv -f "$work/bin/versitygw" "$bin.tmp"
mv -f "$bin.tmp" "$bin"
log "built in $((SECONDS - start)) s"
printf '%s\n' "$bin"
