#!/usr/bin/python3
"""Prints bench-peers.sh's JSON lines as one Markdown table per figure kind."""
import json
import sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
m = next((r for r in rows if r["step"] == "machine"), {})
print(f"machine: {m.get('date')}, {m.get('cpus')} CPUs, load {m.get('load')}, Linux {m.get('kernel')}, {m.get('go')}, commit {m.get('commit')}")


def f(v, nd=2):
    return "—" if v is None else (f"{v:,.{nd}f}" if isinstance(v, float) else f"{v:,}")


print("\n| chunks | engine | p50 ms (CPU) | p99 ms (CPU) | HTTP p50 / p99 ms | open ms (CPU) | serving RSS MB (anon + file) | peak anon MB | disk MB | load |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for r in rows:
    if r["step"] != "query":
        continue
    http = f"{f(r.get('http_p50_ms'), 3)} / {f(r.get('http_p99_ms'), 3)}" if "http_p50_ms" in r else "—"
    print(f"| {r['size']:,} | {r['engine']} | {f(r['p50_ms'], 3)} ({f(r['cpu_p50_ms'], 3)}) | {f(r['p99_ms'], 3)} ({f(r['cpu_p99_ms'], 3)}) | {http} "
          f"| {f(r['open_wall_ms'], 1)} ({f(r['open_cpu_ms'], 1)}) | {f(r['rss_mb'], 0)} ({f(r['rss_anon_mb'], 0)} + {f(r['rss_file_mb'], 0)}) | {f(r.get('peak_anon_mb'), 0)} | {f(r['disk_mb'], 0)} | {r.get('load', '—')} |")
print("\n| chunks | engine | ingest wall s | CPU s | chunks/s (per CPU-s) | peak RSS MB | peak anon MB | disk MB | load |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for r in rows:
    if r["step"] != "ingest":
        continue
    print(f"| {r['size']:,} | {r['engine']} | {f(r['wall_s'], 1)} | {f(r['cpu_s'], 1)} | {f(r['chunks_per_s'], 0)} ({f(r['chunks_per_cpu_s'], 0)}) "
          f"| {f(r['peak_rss_mb'], 0)} | {f(r.get('peak_anon_mb'), 0)} | {f(r['disk_mb'], 0)} | {r.get('load', '—')} |")
