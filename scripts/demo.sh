#!/usr/bin/env bash
# make run: start a node on the embedded default (BM25 + extractive answers),
# ingest the sample manuals that ship with the repo, ask one question, and
# keep the node running so you can ask your own. Ctrl-C stops it.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin/edgerag"
data=${EDGERAG_DEMO_DATA:-$(mktemp -d "${TMPDIR:-/tmp}/edgerag-demo.XXXXXX")}
addr=${EDGERAG_DEMO_ADDR:-127.0.0.1:0}
ready="$data/ready"
rm -f "$ready"

"$bin" serve --data "$data/db" --http "$addr" --name demo --ready-file "$ready" --log-level warn &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true' EXIT INT TERM

for _ in $(seq 100); do
	[ -s "$ready" ] && break
	kill -0 "$pid" 2>/dev/null || { echo "the node did not start; see the log above" >&2; exit 1; }
	sleep 0.1
done
[ -s "$ready" ] || { echo "the node did not become ready within 10 s" >&2; exit 1; }
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
echo "The node keeps running; press Ctrl-C to stop it."
wait "$pid"
