#!/usr/bin/env bash
# test-tools.sh builds the real servers the integration tests start — Ollama
# (scripts/ollama-server.sh) and the versitygw S3 gateway
# (scripts/versitygw-server.sh) — in the background, so that `make test`
# overlaps their builds with downloading and compiling its own modules. On a
# fresh machine each build takes minutes; afterwards both are cached by
# version and this is instant.
#
#   scripts/test-tools.sh start   # Debian packages first, then both builds in the background
#   scripts/test-tools.sh wait    # block until both are built (or say which failed)
#
# Each build script holds a lock while it builds, so `wait` simply runs it
# again: it blocks until the background build is done, then takes the
# script's fast path. A failed build is not an error here: the tests that
# need the server skip and say why.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

cache_root="${EDGERAG_CACHE:-$HOME/.cache/edgerag}"
tools=(ollama versitygw)

case "${1:-}" in
start)
	mkdir -p "$cache_root" || exit 0
	# apt-get holds one lock for the whole machine: install the build's
	# packages now, in the foreground, not beside another apt-get.
	scripts/ollama-server.sh --deps-only >/dev/null
	for t in "${tools[@]}"; do
		log="$cache_root/build-$t.log"
		nohup scripts/"$t"-server.sh >/dev/null 2>"$log" </dev/null &
		pid=$!
		# A cached build exits at once; one still running after a second
		# is building.
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			took=$(sed -n 's/.* once: //p' "$log" | head -n 1)
			echo "test-tools: building $t in the background, once: ${took:-a few minutes on a fresh machine} (progress in $log)"
		fi
	done
	;;
wait)
	for t in "${tools[@]}"; do
		if ! scripts/"$t"-server.sh >/dev/null; then
			echo "make test: $t could not be built (see above and $cache_root/build-$t.log); the tests that need it will skip"
		fi
	done
	;;
*)
	echo "usage: scripts/test-tools.sh start|wait" >&2
	exit 2
	;;
esac
exit 0
