#!/usr/bin/env bash
# ollama-server.sh builds the real Ollama server and CLI (CPU only) once and
# prints the binary's path as the last line on stdout; progress goes to stderr.
#
# Integration tests (models/ollama/ollamatest) run this binary against tiny
# locally written models, because no model can be downloaded here. It is
# Ollama v0.24.0 built from its module source with only the engine those
# models use: Ollama's own (runner/ollamarunner on ggml). Three patches to a
# copy of the source leave llama.cpp out, which is ~70 % of the build:
#   - runner: `ollama runner` always runs the new engine (no llamarunner);
#   - llm: the server always chooses the new engine (as OLLAMA_NEW_ENGINE=1);
#   - llama: the cgo binding is replaced by scripts/ollamaengine/llama, a
#     Go-only stand-in whose calls fail (no legacy models, no "format").
# go-sqlite3 (used by `ollama launch`) links Debian's libsqlite3 instead of
# compiling its 9 MB amalgamation. The result is cached under
#   ${EDGERAG_CACHE:-$HOME/.cache/edgerag}/ollama/v0.24.0-engine-O1/bin/ollama
# and a second run only prints that path.
#
# Usage: scripts/ollama-server.sh             (called by `make ollama`)
#        scripts/ollama-server.sh --deps-only (only the Debian packages it needs;
#                                              scripts/test-tools.sh, before building in the background)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

readonly OLLAMA_VERSION=v0.24.0
# g++ builds ggml; libsqlite3-dev lets go-sqlite3 link the system library.
readonly DEB_PACKAGES=(g++ libsqlite3-dev)

tool=ollama
# The key names what is built: a new patch set or new flags need a new key.
tool_key=$OLLAMA_VERSION-engine-O1
tool_bin=ollama
# shellcheck source=tool-cache.sh
source "$here/tool-cache.sh"
tool_cache_enter

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
	log "dpkg-query not found; assuming ${DEB_PACKAGES[*]} are installed"
fi

if [[ ${1:-} == --deps-only ]]; then
	exit 0
fi

# Download outside any module so the caller's go.mod and go.sum stay untouched.
log "fetching github.com/ollama/ollama@$OLLAMA_VERSION"
mod_dir=$(cd "$work" && go mod download -json "github.com/ollama/ollama@$OLLAMA_VERSION" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') ||
	die "go mod download github.com/ollama/ollama@$OLLAMA_VERSION failed; check access to the Go module proxy"
[[ -f "$mod_dir/go.mod" ]] || die "no module source in '$mod_dir'"

# The patched copy is built as its own main module, at a fixed path under
# the cache, so that a rebuild into the same cache can reuse Go's build cache
# (a build into another EDGERAG_CACHE compiled everything again).
src="$cache/src"
rm -rf "$src"
cp -R "$mod_dir" "$src"
chmod -R u+w "$src"

# patch FILE FROM TO replaces the one line containing FROM, or fails: a new
# Ollama version that moved the line must not build unpatched.
patch_line() {
	local file=$src/$1 from=$2 to=$3
	[[ $(grep -cF -- "$from" "$file") == 1 ]] || die "$1 no longer has exactly one '$from'; update the patch for this version"
	FROM=$from TO=$to perl -pi -e 's/\Q$ENV{FROM}\E/$ENV{TO}/' "$file"
}
patch_line runner/runner.go '"github.com/ollama/ollama/runner/llamarunner"' ''
patch_line runner/runner.go 'return llamarunner.Execute(args)' 'return ollamarunner.Execute(args)'
patch_line llm/server.go 'envconfig.NewEngine() || f.KV().OllamaEngineRequired()' 'true'
rm -rf "$src/llama"
mkdir -p "$src/llama"
cp "$here/ollamaengine/llama/llama.go" "$src/llama/llama.go"

# These flags are part of Go's build cache key: keep them fixed so a rebuild
# after the binary is lost takes seconds, not minutes. No -g: no debug
# information to write for ggml's C and C++. The server only runs the tests'
# tiny models, so ggml is built at -O1 and the Go code without optimisations
# (-N -l): 311 CPU-s from empty caches against 361 at -O2 and optimised Go,
# and the Ollama tests take as long with either binary (BENCHMARKS.md).
export CGO_ENABLED=1
export CGO_CFLAGS=-O1
export CGO_CXXFLAGS=-O1

log "building Ollama $OLLAMA_VERSION (its own engine only) once: about 5 minutes on an idle 2-core machine, up to 12 on a busy one; later runs reuse it"
# The version stamp makes `ollama --version` and /api/version tell the truth;
# release mode keeps gin's debug chatter out of the server log.
ldflags="-X=github.com/ollama/ollama/version.Version=${OLLAMA_VERSION#v} -X=github.com/ollama/ollama/server.mode=release"
(cd "$src" && go build -trimpath -gcflags='all=-N -l' -tags libsqlite3 -ldflags="$ldflags" -o "$work/bin/ollama" .) >&2 ||
	die "go build failed (see the compiler output above)"
tool_cache_install "$work/bin/ollama"
