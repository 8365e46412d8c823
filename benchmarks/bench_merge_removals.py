"""Memory of ``clusters.merge_removals`` per distinct node, and that it does not depend on the edges.

For each (nodes, edges per node): edge files like ``near_duplicates`` reads (16 partitions, doc/root
int64) over ``nodes`` documents with ids of Common Crawl's length, then, in a fresh subprocess, the merge
with the peak of numpy/Python memory (tracemalloc) and of Arrow's memory pool (``max_memory``) measured.
Reported per node: the union-find alone (``stream_components``) and the whole merge, output included.

    .venv/bin/python -m benchmarks.bench_merge_removals [--nodes 100000 400000] [--edges-per-node 4 16]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa

from benchmarks import common
from corpus.dedup import clusters
from corpus.storage import Layout, write_table_atomic

PARTITIONS = 16


def _id(i: int) -> str:
    return f"commoncrawl/CC-MAIN-2024-22__segments__{i // 50_000:05d}.warc.wet.gz:{i}"


def _index(root: Path, nodes: int) -> clusters.DocIndex:
    return clusters.DocIndex(Layout(root), [clusters.IndexedPart("commoncrawl", 6, "signatures.parquet", "unused",
                                                                 nodes, "bench")])


def build(root: Path, nodes: int, edges_per_node: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    write_table_atomic(root / "signatures.parquet", pa.table({"id": [_id(i) for i in range(nodes)]}))
    edges = nodes * edges_per_node
    a, b = rng.integers(0, nodes, edges), rng.integers(0, nodes, edges)
    a[:nodes] = np.arange(nodes)  # every document in some edge
    for i, (x, y) in enumerate(zip(np.array_split(a, PARTITIONS), np.array_split(b, PARTITIONS))):
        write_table_atomic(root / "edges" / f"{i:x}.parquet", pa.table([pa.array(x), pa.array(y)], schema=clusters.EDGE_SCHEMA))


def measure(root: Path, nodes: int, what: str) -> dict:
    files = sorted((root / "edges").glob("*.parquet"))
    run = {"stream_components": lambda: clusters.stream_components(files),
           "merge_removals": lambda: clusters.merge_removals(files, _index(root, nodes))}[what]
    warm = root / "warm-up.parquet"  # first calls import and cache (numpy, pyarrow kernels): not the merge's memory
    write_table_atomic(warm, pa.table([pa.array(np.arange(10)), pa.array(np.arange(1, 11))], schema=clusters.EDGE_SCHEMA))
    clusters.merge_removals([warm], _index(root, nodes))
    pool = pa.default_memory_pool()
    arrow_before = pool.bytes_allocated()
    tracemalloc.start()
    t0 = time.process_time()
    run()
    cpu = time.process_time() - t0
    numpy_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    arrow_peak = pool.max_memory() - arrow_before
    return {"what": what, "nodes": nodes, "cpu_s": cpu, "numpy_python_peak_mb": numpy_peak / 2**20,
            "arrow_peak_mb": arrow_peak / 2**20, "bytes_per_node": (numpy_peak + arrow_peak) / nodes}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, nargs="+", default=[100_000, 400_000])
    ap.add_argument("--edges-per-node", type=int, nargs="+", default=[4, 16])
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        common.emit(measure(Path(args.child[0]), int(args.child[1]), args.child[2]))
        return
    rows = []
    for nodes in args.nodes:
        for per_node in args.edges_per_node:
            with tempfile.TemporaryDirectory() as tmp:
                build(Path(tmp), nodes, per_node)
                for what in ("stream_components", "merge_removals"):
                    r = common.run_json([str(common.VENV_PY), "-m", "benchmarks.bench_merge_removals", "--child", tmp,
                                         str(nodes), what])
                    r["edges"] = nodes * per_node
                    rows.append(r)
                    print(f"{what:17s} {nodes:>8d} nodes {r['edges']:>9d} edges: numpy/Python {r['numpy_python_peak_mb']:6.1f} MiB"
                          f" + Arrow {r['arrow_peak_mb']:6.1f} MiB = {r['bytes_per_node']:4.0f} B/node, {r['cpu_s']:.1f} CPU s",
                          file=sys.stderr)
    common.report({"rows": rows}, None)


if __name__ == "__main__":
    main()
