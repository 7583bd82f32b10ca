#!/usr/bin/env bash
# Installs the Debian packages that some tests use and that a fresh machine
# may lack: shellcheck (scripts/install_test.sh), chromium (the status
# page's rendering test), nodejs with npm (the client conformance tests) and
# etcd-server (the publisher lease), and g++ with libsqlite3-dev, which
# scripts/ollama-server.sh needs to build Ollama — all in one apt-get, since
# each apt-get run costs seconds of its own. Best effort: without root or a
# package index the tests that need them skip and say why, so this never
# fails make test.
#
#   scripts/test-deps.sh
set -uo pipefail

missing=()
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing+=(chromium)
# node and npm run the official openai and ollama clients (node/api/conformance).
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
# etcd holds central's publisher lease (sync/lease); the tests start their own
# on a free port. Where systemd runs, the package also enables a system etcd on
# 127.0.0.1:2379, which the tests do not use.
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
# Keep in step with DEB_PACKAGES in scripts/ollama-server.sh.
for pkg in g++ libsqlite3-dev; do
	command -v dpkg-query >/dev/null 2>&1 || break
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

sudo=()
if [ "$(id -u)" != 0 ]; then
	if ! command -v sudo >/dev/null 2>&1 || ! sudo -n true 2>/dev/null; then
		echo "test-deps: not root and no password-less sudo; not installing ${missing[*]} (the tests that need them will skip)" >&2
		exit 0
	fi
	sudo=(sudo -n)
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "test-deps: no apt-get here; install ${missing[*]} by hand to run every test" >&2
	exit 0
fi

echo "test-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get -qq update >/dev/null ||
	! "${sudo[@]}" apt-get -qq install -y --no-install-recommends "${missing[@]}" >/dev/null; then
	echo "test-deps: apt-get could not install ${missing[*]}; the tests that need them will skip" >&2
fi
exit 0
