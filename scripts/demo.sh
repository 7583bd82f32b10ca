#!/usr/bin/env bash
# make run: start a node on the embedded default (BM25 + extractive answers),
# ingest the sample manuals that ship with the repo, ask one question, and
# keep the node running so you can ask your own. Ctrl-C stops it, removes the
# demo's temporary folder and exits 0.
#
#   EDGERAG_DEMO_BIN   the binary (default bin/edgerag, which make run builds)
#   EDGERAG_DEMO_DATA  keep the node's data here instead of a temporary folder
#   EDGERAG_DEMO_ADDR  listen here instead of 127.0.0.1:8080 (or any free
#                      loopback port when 8080 is taken)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${EDGERAG_DEMO_BIN:-$root/bin/edgerag}
own_data=0
if [ -n "${EDGERAG_DEMO_DATA:-}" ]; then
	data=$EDGERAG_DEMO_DATA
	mkdir -p "$data"
else
	data=$(mktemp -d "${TMPDIR:-/tmp}/edgerag-demo.XXXXXX")
	own_data=1
fi
# 8080, the port the README's examples use, unless something has it: then
# any free port. The address printed below is the one to use.
addr=${EDGERAG_DEMO_ADDR:-}
if [ -z "$addr" ]; then
	addr=127.0.0.1:8080
	if (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null; then
		addr=127.0.0.1:0
	fi
fi
ready="$data/ready"
rm -f "$ready"
pid=""
stty_saved=""

cleanup() {
	trap - EXIT INT TERM
	if [ -n "$stty_saved" ]; then
		stty "$stty_saved" 2>/dev/null || true
	fi
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	if [ "$own_data" = 1 ]; then
		rm -rf "$data"
	fi
}
trap cleanup EXIT
# Stopping the demo is how it ends, not a failure.
trap 'echo; echo "stopping the node"; cleanup; exit 0' INT TERM HUP

"$bin" serve --data "$data/db" --http "$addr" --name demo --ready-file "$ready" --log-level warn --anonymous query &
pid=$!

for _ in $(seq 100); do
	[ -s "$ready" ] && break
	kill -0 "$pid" 2>/dev/null || {
		echo "the node did not start; see the log above" >&2
		exit 1
	}
	sleep 0.1
done
[ -s "$ready" ] || {
	echo "the node did not become ready within 10 s" >&2
	exit 1
}
url=$(head -n1 "$ready")
# The node wrote its admin token into its data directory on first start;
# commands on this machine read it with --data.
token_file="$data/db/admin.token"

echo "node listening on $url (data in $data)"
"$bin" ingest --node "$url" --data "$data/db" --quiet "$root/scripts/sample"
question="How do I reset the pump after a fault?"
echo
echo "\$ edgerag query --node $url --data $data/db \"$question\""
"$bin" query --node "$url" --data "$data/db" "$question"
echo
echo "Ask your own question:"
echo "  curl -s $url/v1/query -H \"Authorization: Bearer \$(cat $token_file)\" -d '{\"question\":\"what oil does the press use?\"}'"
echo "  $bin query --node $url --data $data/db \"what oil does the press use?\""
echo "  OLLAMA_HOST=${url#http://} ollama run edgerag \"what oil does the press use?\"   # no token: the demo grants anonymous query"
if [ -t 0 ]; then
	# On a terminal, Ctrl-C is read as a key rather than delivered as
	# SIGINT: make, which runs this script, would otherwise die of the
	# signal and report an error for a demo that ended as intended. (bash's
	# own `read -n` turns signals back on, so dd reads the key, waiting at
	# most a second so that a node that dies is noticed.)
	stty_saved=$(stty -g)
	stty -isig -icanon -echo min 0 time 10
fi
echo "The node keeps running; press Ctrl-C to stop it."

if [ -t 0 ]; then
	while kill -0 "$pid" 2>/dev/null && [ -t 0 ]; do
		key=$(dd bs=1 count=1 2>/dev/null) || break
		if [ "$key" = $'\x03' ]; then
			echo
			echo "stopping the node"
			cleanup
			exit 0
		fi
	done
fi
status=0
wait "$pid" || status=$?
pid=""
echo "the node stopped (exit status $status)" >&2
exit "$status"
