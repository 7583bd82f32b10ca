#!/usr/bin/python3
"""Xapian side of scripts/bench-peers.sh (Debian's python3-xapian 1.4).

Indexes the analysed corpus `benchpeers export` wrote (one chunk a line,
terms split by spaces) and times the same questions with BM25Weight at
edgerag's k1 0.9 and b 0.4, printing one JSON object a step:

    bench-peers-xapian.py ingest CHUNKS.txt DBDIR [TEXTS.txt]

With TEXTS (one chunk text a line, as `benchpeers export` writes them) each
chunk's text is stored as its document data, as an engine that answers with
passages must keep it (edgerag does); Xapian compresses it with zlib.
    bench-peers-xapian.py query DBDIR QUERIES.txt
"""
import json
import os
import resource
import sys
import time

import xapian


def status():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if v.strip().endswith("kB"):
                out[k] = int(v.split()[0]) / 1024
    return out


def disk_mb(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            total += os.stat(os.path.join(root, name)).st_blocks * 512
    return total / (1 << 20)


def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, len(s) * p // 100)]


def ingest(chunks, path, texts=None):
    t0, c0 = time.perf_counter(), time.process_time()
    db = xapian.WritableDatabase(path, xapian.DB_CREATE_OR_OVERWRITE)
    n = 0
    tf = open(texts) if texts else None
    with open(chunks) as f:
        for line in f:
            doc = xapian.Document()
            if tf:
                doc.set_data(tf.readline().rstrip("\n"))
            counts = {}
            for t in line.split():
                counts[t] = counts.get(t, 0) + 1
            for t, c in counts.items():
                doc.add_term(t, c)
            db.add_document(doc)
            n += 1
            if n % 4000 == 0:  # edgerag's batches: 1,000 documents of four chunks
                db.commit()
    db.commit()
    db.close()
    if tf:
        tf.close()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"step": "ingest", "engine": "xapian", "chunks": n, "wall_s": wall, "cpu_s": cpu,
                      "chunks_per_s": n / wall, "chunks_per_cpu_s": n / cpu, "peak_rss_mb": peak,
                      "disk_mb": disk_mb(path)}))


def query(path, queries):
    with open(queries) as f:
        lines = [l.split() for l in f.read().rstrip("\n").split("\n")]
    t0, c0 = time.perf_counter(), time.process_time()
    db = xapian.Database(path)
    enq = xapian.Enquire(db)
    enq.set_weighting_scheme(xapian.BM25Weight(0.9, 0, 1, 0.4, 0.5))
    open_wall, open_cpu = time.perf_counter() - t0, time.process_time() - c0

    def run(terms):
        if terms:
            enq.set_query(xapian.Query(xapian.Query.OP_OR, terms))
            enq.get_mset(0, 10)

    for t in lines[:200]:
        run(t)
    wall, cpu = [], []
    for t in lines:
        c, w = time.thread_time(), time.perf_counter()
        run(t)
        wall.append(time.perf_counter() - w)
        cpu.append(time.thread_time() - c)
    st = status()
    ms = lambda s: round(s * 1000, 3)
    print(json.dumps({"step": "query", "engine": "xapian", "questions": len(lines),
                      "open_wall_ms": ms(open_wall), "open_cpu_ms": ms(open_cpu),
                      "p50_ms": ms(pct(wall, 50)), "p99_ms": ms(pct(wall, 99)),
                      "cpu_p50_ms": ms(pct(cpu, 50)), "cpu_p99_ms": ms(pct(cpu, 99)),
                      "rss_mb": st.get("VmRSS"), "rss_anon_mb": st.get("RssAnon"), "rss_file_mb": st.get("RssFile"),
                      "disk_mb": disk_mb(path)}))


if __name__ == "__main__":
    if len(sys.argv) in (4, 5) and sys.argv[1] == "ingest":
        ingest(*sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "query":
        query(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: bench-peers-xapian.py ingest CHUNKS DBDIR [TEXTS] | query DBDIR QUERIES")
