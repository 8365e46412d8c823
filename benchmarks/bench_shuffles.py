"""The partitioned shuffles' driver memory at 1x and 10x the input: line-dedup counting (per snapshot group
of ``LINE_DEDUP_GROUP_SIZE`` parts, per hash bucket: ``line_dedup.count_group``) and exact dedup (per
hash-prefix bucket: ``exact.find_duplicates``), each in a fresh subprocess, peak RSS from getrusage.

Input at scale N: ``50 N`` parts of ``--keys`` line keys each (a part's distinct line hashes with their
document counts, as ``line_dedup.part_keys`` writes them; 5% of them drawn from one pool of 5% of all
keys, shared by every part) and the same number of exact-dedup hash files (``--keys`` documents each,
2% of them also in a neighbour part).
The line-dedup driver holds one group's duplicates at a time, so its peak should not grow with N; exact
dedup's removals table (one row per removed copy) is the one thing that grows with the corpus.

``exact_dedup_ray``: the same exact dedup on the Ray path (``exact.find_duplicates`` with a ``RayExecutor``:
each hash bucket one Ray task on a local Ray started inside ``unshare -n``, bound to 127.0.0.1); its
``driver_peak_rss_mb`` is the driver process's own peak (``RUSAGE_SELF``: not the raylet, GCS or workers),
read before Ray shuts down. The machine is shared: figures are noisy.

    .venv/bin/python -m benchmarks.bench_shuffles [--keys 5000] [--scale 10] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks import common
from corpus import executors, recipe
from corpus.dedup import exact
from corpus.filters import line_dedup
from corpus.snapshots import LOCAL

PARTS_PER_SCALE = 50


def _line_keys(folder: Path, parts: int, keys: int, rng: np.random.Generator) -> list[Path]:
    shared = rng.integers(1, 2 ** 63, size=max(parts * keys // 20, 1), dtype=np.uint64)
    files = []
    for p in range(parts):
        own = rng.integers(1, 2 ** 63, size=keys, dtype=np.uint64)
        own[: keys // 20] = rng.choice(shared, keys // 20)
        h, docs = np.unique(own, return_counts=True)
        counts = json.dumps(dict(lines_in=keys, lines_blank=0, lines_repeated_in_doc=0)).encode()
        table = pa.table({"hash": pa.array(h, pa.uint64()), "docs": pa.array(docs.astype(np.int32))},
                         schema=line_dedup.KEY_SCHEMA).replace_schema_metadata({line_dedup.PART_COUNTS_KEY: counts})
        files.append(folder / f"keys-{p:05d}.parquet")
        pq.write_table(table, files[-1], row_group_size=16_384)
    return files


def _exact_hashes(folder: Path, parts: int, keys: int, rng: np.random.Generator) -> list[Path]:
    files = []
    for p in range(parts):
        digests = rng.bytes(16 * keys)
        hashes = [digests[16 * i:16 * i + 16] for i in range(keys)]
        for i in range(keys // 50):  # 2%: the same text in parts 2j and 2j + 1 (one copy removed per pair)
            hashes[i] = b"%05d%011d" % (p // 2, i)
        ids = [f"commoncrawl-{p:05d}-{i:07d}" for i in range(keys)]
        batch = pa.record_batch({"id": ids, "source": ["commoncrawl"] * keys, "text": [""] * keys})
        table = exact.hash_batch(batch, 6, LOCAL)
        prefix = np.frombuffer(b"".join(h[:2] for h in hashes), dtype=">u2").astype(np.uint16)
        table = table.set_column(4, "prefix", pa.array(prefix)).set_column(5, "hash", pa.array(hashes, pa.binary(16)))
        files.append(folder / f"hashes-{p:05d}.parquet")
        pq.write_table(table.sort_by("hash"), files[-1], row_group_size=16_384)
    return files


def child(phase: str, parts: int, keys: int) -> None:
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if phase == "line_dedup":
            files = _line_keys(folder, parts, keys, rng)
            base = common.self_peak_rss_mb()
            t0, duplicates = time.perf_counter(), 0
            size = recipe.LINE_DEDUP_GROUP_SIZE
            for k in range(0, parts, size):  # the asset's loop: one group at a time, its result written out
                group = line_dedup.count_group(files[k:k + size], recipe.LINE_DEDUP_HASH_BUCKETS, threads=1)
                pq.write_table(pa.table({"hash": pa.array(group.duplicates)}), folder / f"group-{k}.parquet")
                duplicates += len(group.duplicates)
        else:
            files = _exact_hashes(folder, parts, keys, rng)
            base = common.self_peak_rss_mb()
            executor = executors.RayExecutor(executors.RayTaskResources(memory=512 * 1024 ** 2)) \
                if phase == "exact_dedup_ray" else None
            t0 = time.perf_counter()
            duplicates = exact.find_duplicates(files, recipe.EXACT_DEDUP_HASH_BUCKETS, executor=executor).num_rows
        driver = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # this process only, Ray still up
        common.emit({"phase": phase, "parts": parts, "keys": parts * keys, "duplicates": duplicates,
                     "seconds": round(time.perf_counter() - t0, 2), "input_peak_rss_mb": base,
                     "driver_peak_rss_mb": driver})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=5000)
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--json")
    ap.add_argument("--child", nargs=2, metavar=("PHASE", "PARTS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child[0], int(args.child[1]), args.keys)
    out = {}
    for phase in ("line_dedup", "exact_dedup", "exact_dedup_ray"):
        # the Ray phase in a private network namespace: only its loopback, so no Ray traffic leaves the machine
        wrap = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"'] if phase.endswith("_ray") else []
        env = {"RAY_ADDRESS": ""} if wrap else None
        runs = [common.run_json([*wrap, sys.executable, "-m", "benchmarks.bench_shuffles", "--keys", str(args.keys),
                                 "--child", phase, str(PARTS_PER_SCALE * s)], env) for s in (1, args.scale)]
        small, large = runs
        key = "driver_peak_rss_mb"
        out[phase] = {"1x": small, f"{args.scale}x": large, "driver_peak_rss_ratio": round(large[key] / small[key], 3)}
        print(f"{phase}: driver peak RSS {small[key]:.0f} MB at {small['parts']} parts -> "
              f"{large[key]:.0f} MB at {large['parts']} parts (x{out[phase]['driver_peak_rss_ratio']}), "
              f"{small['duplicates']} -> {large['duplicates']} duplicates, {small['seconds']} s -> {large['seconds']} s",
              file=sys.stderr)
    common.report(out, args.json)


if __name__ == "__main__":
    main()
