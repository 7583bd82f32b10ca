#!/usr/bin/python3
"""hnswlib and faiss HNSW (Debian's python3-hnswlib and python3-faiss, hence
/usr/bin/python3) on the vectors and queries BenchmarkCompactHNSW
wrote to ~/.cache/edgerag/dense-bench/n=N (vectors.f32, queries.f32,
truth.bin): the peers of the Go HNSW in the same session.

    /usr/bin/python3 node/vector/testdata/dense_peers.py ~/.cache/edgerag/dense-bench/n=100000

One thread, M=16, efConstruction=100, inner product (the vectors are unit
length). Each query runs REPS times; its latency is the median of its runs,
as in the Go benchmarks, and p50/p99 are over the queries: wall time and
the thread's CPU time. The figures include the Python call (a few µs; see
the empty-call line). Built indexes are cached beside the vectors.
"""
import os
import sys
import time

import numpy as np

DIM, K, REPS = 384, 10, 10
# Search widths to measure; DENSE_EFS="200,250" overrides.
EFS = tuple(int(e) for e in os.environ.get("DENSE_EFS", "40,64,100,160").split(","))


def load(d):
    x = np.fromfile(os.path.join(d, "vectors.f32"), dtype="<f4").reshape(-1, DIM)
    q = np.fromfile(os.path.join(d, "queries.f32"), dtype="<f4").reshape(-1, DIM)
    t = np.fromfile(os.path.join(d, "truth.bin"), dtype="<u4").reshape(len(q), K, 2)[:, :, 0]
    return x, q, t


def measure(name, search, q, truth):
    rec = 0.0
    for i in range(len(q)):
        rec += len(set(search(q[i]).tolist()) & set(truth[i].tolist())) / K
    # Round-robin over the queries, as the Go benchmarks do: repeating one
    # query back to back would find its part of the graph in the caches.
    ws, cs = [[] for _ in q], [[] for _ in q]
    for _ in range(REPS):
        for i in range(len(q)):
            t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
            search(q[i])
            cs[i].append(time.thread_time_ns() - c0)
            ws[i].append(time.perf_counter_ns() - t0)
    wall = sorted(sorted(w)[REPS // 2] for w in ws)
    cpu = sorted(sorted(c)[REPS // 2] for c in cs)
    n = len(q)
    print(f"{name}\trecall@10 {rec / n:.3f}\tp50 {wall[n // 2] / 1e3:.1f} µs\tp99 {wall[n * 99 // 100] / 1e3:.1f} µs"
          f"\tcpu-p50 {cpu[n // 2] / 1e3:.1f} µs\tcpu-p99 {cpu[n * 99 // 100] / 1e3:.1f} µs", flush=True)


def hnswlib_peer(d, x, q, truth):
    import hnswlib
    path = os.path.join(d, "hnswlib-M16-efc100.bin")
    p = hnswlib.Index(space="ip", dim=DIM)
    if os.path.exists(path):
        p.load_index(path, max_elements=len(x))
    else:
        p.init_index(max_elements=len(x), M=16, ef_construction=100, random_seed=1)
        t0 = time.process_time()
        p.add_items(x, np.arange(len(x)), num_threads=1)
        print(f"hnswlib build {time.process_time() - t0:.1f} s CPU", flush=True)
        p.save_index(path)
    p.set_num_threads(1)
    for ef in EFS:
        p.set_ef(ef)
        measure(f"hnswlib ef={ef}", lambda v: p.knn_query(v, k=K, num_threads=1)[0][0], q, truth)


def faiss_peer(d, x, q, truth):
    import faiss
    faiss.omp_set_num_threads(1)
    path = os.path.join(d, "faiss-hnswflat-M16-efc100.bin")
    if os.path.exists(path):
        idx = faiss.read_index(path)
    else:
        idx = faiss.IndexHNSWFlat(DIM, 16, faiss.METRIC_INNER_PRODUCT)
        idx.hnsw.efConstruction = 100
        t0 = time.process_time()
        idx.add(x)
        print(f"faiss build {time.process_time() - t0:.1f} s CPU", flush=True)
        faiss.write_index(idx, path)
    for ef in EFS:
        idx.hnsw.efSearch = ef
        measure(f"faiss-HNSWFlat ef={ef}", lambda v: idx.search(v[None, :], K)[1][0], q, truth)


def main():
    d = os.path.expanduser(sys.argv[1] if len(sys.argv) > 1 else "~/.cache/edgerag/dense-bench/n=100000")
    x, q, truth = load(d)
    print(f"{len(x)} vectors, {len(q)} queries from {d}", flush=True)
    which = sys.argv[2:] or ["hnswlib", "faiss"]
    measure("empty Python call", lambda v: v[:K], q, np.zeros((len(q), K), dtype=np.uint32))
    if "hnswlib" in which:
        hnswlib_peer(d, x, q, truth)
    if "faiss" in which:
        faiss_peer(d, x, q, truth)


if __name__ == "__main__":
    main()
