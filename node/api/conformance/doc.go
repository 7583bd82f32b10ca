// Package conformance holds tests only: they start a real edgerag node and
// point the clients people already use at it — the official openai and
// ollama JavaScript packages (pinned in js/package-lock.json) and the real
// Ollama CLI that scripts/ollama-server.sh builds — and check each call
// the README's compatibility table lists, streaming included.
package conformance
