#!/usr/bin/env bash
# versitygw-server.sh builds the S3 server the object-store tests start
# (sync/objstore/s3test) once and prints the binary's path as the last line
# on stdout; progress goes to stderr.
#
# The server is scripts/s3gateway: versitygw's (Apache-2.0) POSIX backend and
# S3 front end, serving a directory on loopback — a server that really speaks
# S3, not an in-process fake — without the other backends and admin tools of
# the full versitygw command, which would double the build. It is its own
# module, so versitygw never enters edgerag's dependencies. The result is
# cached under
#   ${EDGERAG_CACHE:-$HOME/.cache/edgerag}/versitygw/v1.8.0-posix-noopt/bin/versitygw
# and a second run only prints that path.
#
# Usage: scripts/versitygw-server.sh        (called by `make versitygw` and `make test`)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

tool=versitygw
# The version of github.com/versity/versitygw in scripts/s3gateway/go.mod;
# the key changes whenever what is built changes (-noopt: the flags below).
tool_key=v1.8.0-posix-noopt
tool_bin=versitygw
# shellcheck source=tool-cache.sh
source "$here/tool-cache.sh"
tool_cache_enter

# The gateway only serves the tests' few objects on loopback, so it is built
# without the compiler's optimisations and inlining (-N -l) and without a
# symbol table: its build takes a third less CPU (144 s against 217 s from
# an empty build cache, BENCHMARKS.md), which make test on a fresh machine
# spends on nothing else.
export CGO_ENABLED=0
log "building versitygw's POSIX S3 gateway (scripts/s3gateway) once: about 1-2 minutes on an idle 2-core machine, more on a busy one; later runs reuse it"
(cd "$here/s3gateway" && go build -trimpath -gcflags='all=-N -l' -ldflags='-s -w' -o "$work/bin/versitygw" .) >&2 ||
	die "go build failed (see the output above); check access to the Go module proxy"
tool_cache_install "$work/bin/versitygw"
