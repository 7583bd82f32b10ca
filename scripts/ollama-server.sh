#!/usr/bin/env bash
# ollama-server.sh builds the real Ollama server (CPU only) once per version and
# prints the binary's path as the last line on stdout; progress goes to stderr.
#
# Integration tests (models/ollama/ollamatest) run this binary against tiny
# locally written models, because no model can be downloaded here. The build
# takes minutes, so the result is cached by version under
#   ${EDGERAG_CACHE:-$HOME/.cache/edgerag}/ollama/<version>/bin/ollama
# and a second run only prints that path.
#
# Usage: scripts/ollama-server.sh             (called by `make ollama`)
#        scripts/ollama-server.sh --deps-only (only the Debian packages it needs;
#                                              scripts/test-tools.sh, before building in the background)
set -euo pipefail

readonly OLLAMA_VERSION=v0.24.0
# The Go module zip of ollama drops llama.cpp's vendored headers; malgo ships
# the same single-header miniaudio that llama.cpp's mtmd includes.
readonly MALGO_VERSION=v0.11.24
# g++ builds llama.cpp and ggml; the two -dev packages supply headers the
# module zip leaves out.
readonly DEB_PACKAGES=(g++ nlohmann-json3-dev libstb-dev)

cache_root="${EDGERAG_CACHE:-$HOME/.cache/edgerag}"
cache="$cache_root/ollama/$OLLAMA_VERSION"
bin="$cache/bin/ollama"

log() { printf 'ollama-server.sh: %s\n' "$*" >&2; }
die() {
	printf 'ollama-server.sh: cannot build ollama %s: %s\n' "$OLLAMA_VERSION" "$*" >&2
	exit 1
}

# Fast path: nothing to do once the binary exists.
if [[ -x "$bin" ]]; then
	printf '%s\n' "$bin"
	exit 0
fi

command -v go >/dev/null 2>&1 || die "go is not on PATH; install Go 1.26 or newer"
mkdir -p "$cache" 2>/dev/null || die "cannot create $cache; set EDGERAG_CACHE to a writable directory"

# Two concurrent runs (say, make -j) must not build twice or race on the
# binary, so the second one waits for the first and then takes the fast path.
exec 9>"$cache/.lock"
if command -v flock >/dev/null 2>&1; then
	flock 9
fi
if [[ -x "$bin" ]]; then
	printf '%s\n' "$bin"
	exit 0
fi

missing_packages() {
	local pkg
	for pkg in "${DEB_PACKAGES[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
			printf '%s\n' "$pkg"
		fi
	done
}

if command -v dpkg-query >/dev/null 2>&1; then
	mapfile -t need < <(missing_packages)
	if ((${#need[@]} > 0)); then
		if [[ $(id -u) -ne 0 ]]; then
			die "missing Debian packages ${need[*]}; run 'sudo apt-get install -y ${need[*]}' and retry"
		fi
		log "installing Debian packages: ${need[*]}"
		# A fresh machine may have no package lists yet: update only when needed.
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" >&2; then
			log "apt-get install failed; running apt-get update and retrying"
			apt-get update >&2 || die "apt-get update failed; check access to the Debian mirror"
			DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" >&2 ||
				die "apt-get install -y ${need[*]} failed"
		fi
	fi
else
	log "dpkg-query not found; assuming ${DEB_PACKAGES[*]} headers are installed"
fi

if [[ ${1:-} == --deps-only ]]; then
	exit 0
fi

# Download outside any module so the caller's go.mod and go.sum stay untouched.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

log "fetching miniaudio.h from github.com/gen2brain/malgo@$MALGO_VERSION"
malgo_dir=$(cd "$work" && go mod download -json "github.com/gen2brain/malgo@$MALGO_VERSION" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') ||
	die "go mod download github.com/gen2brain/malgo@$MALGO_VERSION failed; check access to the Go module proxy"
[[ -f "$malgo_dir/miniaudio.h" ]] || die "miniaudio.h not found in $malgo_dir"
mkdir -p "$cache/include/miniaudio"
cp "$malgo_dir/miniaudio.h" "$cache/include/miniaudio/miniaudio.h"

# These flags are part of Go's build cache key: keep them fixed so a rebuild
# after the binary is lost takes seconds, not minutes.
export CGO_ENABLED=1
export CGO_CFLAGS=-O2
export CGO_CXXFLAGS=-O2
export CGO_CPPFLAGS="-I$cache/include"
# Install into a scratch directory first so an interrupted build never leaves
# a half-written binary at the cached path.
export GOBIN="$work/bin"

log "building github.com/ollama/ollama@$OLLAMA_VERSION once: 3.5 minutes on an idle 2-core machine, up to 15 on a busy one, ~1 GB memory; later runs reuse it"
start=$SECONDS
# The version stamp makes `ollama --version` and /api/version tell the truth;
# release mode keeps gin's debug chatter out of the server log.
ldflags="-X=github.com/ollama/ollama/version.Version=${OLLAMA_VERSION#v} -X=github.com/ollama/ollama/server.mode=release"
(cd "$work" && go install -trimpath -ldflags="$ldflags" "github.com/ollama/ollama@$OLLAMA_VERSION") >&2 ||
	die "go install failed (see the compiler output above)"
[[ -x "$work/bin/ollama" ]] || die "go install produced no binary at $work/bin/ollama"

mkdir -p "$cache/bin"
mv -f "$work/bin/ollama" "$bin.tmp"
mv -f "$bin.tmp" "$bin"
log "built in $((SECONDS - start)) s"
printf '%s\n' "$bin"
