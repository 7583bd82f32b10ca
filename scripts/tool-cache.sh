# shellcheck shell=bash
# tool-cache.sh is sourced (not run) by the scripts that build a test server
# once per version (ollama-server.sh, versitygw-server.sh): it holds what they
# share — their messages, the cache path, the fast path, the lock that keeps
# two concurrent builds apart, and installing the binary so an interrupted
# build never leaves half of one at the cached path.
#
#   tool=ollama; tool_key=v0.24.0-engine-O1; tool_bin=ollama
#   source "$(dirname "$0")/tool-cache.sh"
#   tool_cache_enter   # prints the cached binary and exits when there is one
#   ... build into "$work/bin/$tool_bin" ...
#   tool_cache_install "$work/bin/$tool_bin"
#
# tool_key names the cache directory: change it whenever what is built
# changes, so an old and a new binary never mix.

# shellcheck disable=SC2154 # tool, tool_key and tool_bin are the caller's
cache_root="${EDGERAG_CACHE:-$HOME/.cache/edgerag}"
cache="$cache_root/$tool/$tool_key"
bin="$cache/bin/$tool_bin"

log() { printf '%s-server.sh: %s\n' "$tool" "$*" >&2; }
die() {
	printf '%s-server.sh: cannot build %s %s: %s\n' "$tool" "$tool" "$tool_key" "$*" >&2
	exit 1
}

# tool_cache_enter prints the binary and exits when it is cached; otherwise
# it takes the build lock (waiting for a build already under way, then
# taking the fast path) and makes the scratch directory $work.
tool_cache_enter() {
	if [[ -x "$bin" ]]; then
		printf '%s\n' "$bin"
		exit 0
	fi
	command -v go >/dev/null 2>&1 || die "go is not on PATH; install Go 1.26 or newer"
	mkdir -p "$cache" 2>/dev/null || die "cannot create $cache; set EDGERAG_CACHE to a writable directory"
	exec 9>"$cache/.lock"
	if command -v flock >/dev/null 2>&1; then
		flock 9
	fi
	if [[ -x "$bin" ]]; then
		printf '%s\n' "$bin"
		exit 0
	fi
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	build_start=$SECONDS
}

# tool_cache_install moves the built binary $1 to the cached path and prints
# that path.
tool_cache_install() {
	[[ -x "$1" ]] || die "the build produced no binary at $1"
	mkdir -p "$cache/bin"
	mv -f "$1" "$bin.tmp"
	mv -f "$bin.tmp" "$bin"
	log "built in $((SECONDS - build_start)) s"
	printf '%s\n' "$bin"
}
