#!/usr/bin/env bash
# test-tools.sh builds the real servers the integration tests start — Ollama
# (scripts/ollama-server.sh) and the versitygw S3 gateway
# (scripts/versitygw-server.sh) — in the background, so that `make test`
# overlaps their builds with downloading and compiling its own modules. On a
# fresh machine each build takes minutes; afterwards both are cached by
# version and this is instant.
#
#   scripts/test-tools.sh start versitygw ollama  # versitygw needs no Debian package;
#                                                 # ollama installs its two first
#   scripts/test-tools.sh wait             # block until both are built (or say which failed)
#
# make test starts the S3 gateway's pure-Go build first, so that it uses the
# CPU that apt-get leaves idle while it downloads and unpacks, and starts the
# Go tests without waiting for either build: a test that needs a server
# waits for the build's lock (node/nodetest/toolbuild), and make test calls
# `wait` after the tests only to say which build failed.
#
# Each build script holds a lock while it builds, so `wait` simply runs it
# again: it blocks until the background build is done, then takes the
# script's fast path. A failed build is not an error here: the tests that
# need the server skip and say why.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

cache_root="${EDGERAG_CACHE:-$HOME/.cache/edgerag}"
tools=(ollama versitygw)
said="$cache_root/.test-tools-said"

case "${1:-}" in
start)
	shift
	mkdir -p "$cache_root" || exit 0
	for t in "${@:-${tools[@]}}"; do
		if [[ $t == ollama ]]; then
			# apt-get holds one lock for the whole machine: install the
			# build's packages (if scripts/test-deps.sh did not) now, in the
			# foreground, not beside another apt-get.
			scripts/ollama-server.sh --deps-only >/dev/null
		fi
		nohup scripts/"$t"-server.sh >/dev/null 2>"$cache_root/build-$t.log" </dev/null &
		pid=$!
		# A cached build exits at once; one still running after a second
		# is building.
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		# One line per make test, from the first start that builds
		# (`wait` removes the marker, which an interrupted run may leave:
		# one older than an hour does not count); the figures are those
		# of BENCHMARKS.md, "make test on a fresh machine".
		if kill -0 "$pid" 2>/dev/null && [[ -z $(find "$said" -mmin -60 2>/dev/null) ]]; then
			: >"$said"
			echo "make test: building Ollama and the S3 gateway for the integration tests in the background, beside the tests (progress in $cache_root/build-*.log); a first make test takes 15-17 minutes on a 2-core machine, longer on a busy one; later runs 5-11"
		fi
	done
	;;
wait)
	rm -f "$said"
	for t in "${tools[@]}"; do
		if ! scripts/"$t"-server.sh >/dev/null; then
			echo "make test: $t could not be built (see above and $cache_root/build-$t.log); the tests that need it skipped"
		fi
	done
	;;
*)
	echo "usage: scripts/test-tools.sh start|wait" >&2
	exit 2
	;;
esac
exit 0
