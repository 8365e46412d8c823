"""The cost of verifying every near-dedup candidate (issue 16), next to unverified throughput.

Test set: ``bench_minhash``'s (300-word passages of two Gutenberg books + the C4 sample pages, one edited
copy of each at known edit levels); ``--scale N`` adds N-1 rewritten replicas of every original (a quarter
of the words replaced: J ~0.1 to the others, new documents for the LSH) with their own copies: N times the
documents, the same duplicate structure. Written as 8 exact_dedup parts; each configuration runs the pure
steps of the assets from Parquet (signatures once, reused by all, timed separately):

- ``unverified 0.8``: bands x rows for the dedup threshold, every star edge an edge (before issue 16);
- ``unverified 0.55``: the lower candidate threshold's bands x rows, unverified (what the verification sees);
- ``verified 0.55``: the default: every candidate pair checked by exact Jaccard, texts re-read per part:
  in its partition when a later round there depends on it, else deferred and checked once, globally
  (``clusters.verify_candidates``).

Per configuration: CPU seconds (one core) of band table, partitions (with the verification of the pairs a
later round depends on), the global verification of the deferred candidates, and merge; docs/s of the
whole near-dedup (signatures included); candidate pairs measured (rows of every pair file) and distinct
(a pair a later round depends on in several partitions is measured in each); precision (pairs in one
component at exact J >= 0.8) and recall (edited copies at J >= 0.8 in their original's component).

Run: ``.venv/bin/python -m benchmarks.bench_near_dedup_verify [--scale 10]``.
"""
from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.bench_minhash import EDIT_LEVELS, build_set, component_pairs, edit, write_corpus
from corpus import recipe
from corpus.dedup import clusters, minhash
from corpus.schema import new_document
from corpus.storage import Layout
from corpus.fingerprints import FINGERPRINT_KEY


def scaled_set(scale: int) -> tuple[list[str], list[tuple[int, int]]]:
    texts, families = build_set(copies_of=10**9)
    originals, edited = len(texts) - len(families), [i for i, _ in families]
    rng = random.Random(7)
    for _ in range(scale - 1):
        base = len(texts)
        replicas = [edit(t, 0.25, rng) for t in texts[:originals]]
        texts += replicas
        for k, i in enumerate(edited):
            texts.append(edit(replicas[i], EDIT_LEVELS[k % len(EDIT_LEVELS)], rng))
            families.append((base + i, len(texts) - 1))
    return texts, families


def cpu(fn, *fn_args):
    started = time.process_time()
    return fn(*fn_args), time.process_time() - started


def run(layout: Layout, index, candidate: float, verify: bool, tag: str):
    work = layout.work / "near_dedup"
    params = minhash.MinHashParams.for_threshold(recipe.MINHASH_THRESHOLD, candidate_threshold=candidate)
    manifest, band_s = cpu(clusters.write_band_table, index, params, work / f"bands-{tag}",
                           recipe.NEAR_DEDUP_BAND_PARTITIONS)
    verifier = clusters.make_verifier(layout, manifest, recipe.SOURCES if verify else (), {})
    edges = work / f"edges-{tag}"
    files, part_s = cpu(lambda: [clusters.partition_edges(work / f"bands-{tag}", edges, n, manifest, verifier)[0]
                                 for n in manifest["partitions"]])
    groups, verify_s = cpu(clusters.verify_candidates, edges, manifest["partitions"], manifest, verifier) \
        if verify else ([], 0.0)
    (nodes, roots), merge_s = cpu(clusters.stream_components, files + [g.edges for g in groups])
    measured = unique = 0
    if verify:
        pair_files = [clusters.pairs_path(edges, n) for n in manifest["partitions"]] + [g.measured for g in groups]
        pairs = pa.concat_tables([pq.read_table(f, columns=["a", "b"]) for f in pair_files])
        measured, unique = pairs.num_rows, pairs.group_by(["a", "b"]).aggregate([]).num_rows
    return params, list(zip(nodes.tolist(), roots.tolist())), (band_s, part_s, verify_s, merge_s), (measured, unique)


def main(args) -> None:
    texts, families = scaled_set(args.scale)
    print(f"test set x{args.scale}: {len(texts)} documents, {len(families)} edited copies; 1 core, CPU seconds")
    sets = minhash.shingle_sets(texts, recipe.MINHASH_NGRAM)
    cache: dict = {}

    def exact(p):
        if p not in cache:
            cache[p] = minhash.jaccard(sets[p[0]], sets[p[1]])
        return cache[p]

    truth = {tuple(sorted(p)) for p in families if exact(tuple(sorted(p))) >= recipe.MINHASH_THRESHOLD}
    with tempfile.TemporaryDirectory() as tmp:
        layout = write_corpus(Path(tmp) / "data", texts, parts=8)
        parts = [("c4", 0, p, pq.read_schema(p).metadata[FINGERPRINT_KEY].decode())
                 for p in layout.docs_parts("exact_dedup", "c4")]
        sig_params = minhash.MinHashParams()
        (index, _), sig_s = cpu(clusters.update_signatures, layout, parts, sig_params,
                                layout.work / "near_dedup" / "signatures")
        by_id = {new_document("c4", f"bench:{i:07d}", "")["id"]: i for i in range(len(texts))}
        position = np.array([by_id[i] for i in index.ids(np.arange(index.size))])
        print(f"signatures (shared): {sig_s:.2f} s, {len(texts) / sig_s:.0f} docs/s")
        print(f"{'configuration':18s} {'bands x rows':>12s} {'bands s':>8s} {'partitions s':>12s} {'verify s':>8s} {'merge s':>8s} "
              f"{'docs/s':>8s} {'measured':>9s} {'distinct':>8s} {'precision':>9s} {'recall':>7s}")
        base = None
        for name, candidate, verify in (("unverified 0.8", recipe.MINHASH_THRESHOLD, False),
                                        ("unverified 0.55", recipe.NEAR_DEDUP_CANDIDATE_THRESHOLD, False),
                                        ("verified 0.55", recipe.NEAR_DEDUP_CANDIDATE_THRESHOLD, True)):
            params, labels, (band_s, part_s, verify_s, merge_s), measured = run(layout, index, candidate, verify, name.replace(" ", "-"))
            pred = component_pairs([(int(position[n]), int(position[r])) for n, r in labels])
            precision = sum(exact(p) >= recipe.MINHASH_THRESHOLD for p in pred) / len(pred) if pred else 1.0
            recall = len(pred & truth) / len(truth)
            total = sig_s + band_s + part_s + verify_s + merge_s
            base = base or total
            print(f"{name:18s} {f'{params.bands} x {params.rows}':>12s} {band_s:8.2f} {part_s:12.2f} {verify_s:8.2f} {merge_s:8.2f} "
                  f"{len(texts) / total:8.0f} {measured[0]:9d} {measured[1]:8d} {precision:9.4f} {recall:7.4f}   "
                  f"({total / base:.2f}x the time)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    main(parser.parse_args())
