"""Near-dedup benchmark: our vectorised MinHash LSH against datasketch, on real text from ../shared/samples.

Test set: 300-word passages of two Gutenberg books (one full edition each) + the C4 sample pages as
originals; for some originals one copy with a fraction of its words replaced (known edit levels, exact
Jaccard measured on the 5-gram shingle sets). Both systems see the same documents, the same
normalisation (``corpus.text``'s batch normaliser, timed on both sides) and shingles, 128 permutations,
threshold 0.8 with the same 9 bands x 13 rows (computed once, outside the timings, for both):

- ours, pipeline: signatures per part, band table in partitions, star edges, union-find
  (corpus.dedup.*), all from Parquet parts on disk, including their reads and writes, verification off;
- ours, in memory: the same algorithm from the text column to components, no Parquet (the figure
  comparable with datasketch's);
- datasketch, in memory: normalised text split into shingles in Python, ``MinHash.bulk``,
  ``MinHashLSH.insert`` then ``query`` per document, the same union-find on the query results.

Timing: the process is pinned to one core (the machine is shared), and CPU time (``process_time``, all
threads) is the primary figure; wall time is secondary. Quality: a pair is predicted when both documents
end in one component; it is a true duplicate when its exact Jaccard >= the threshold. Then the
band-partition memory: peak tracemalloc of processing one band partition for a corpus and for one twice
its size split into twice the partitions.

Run: ``.venv/bin/python -m benchmarks.bench_minhash`` (about a minute on one core).
"""
from __future__ import annotations

import argparse
import itertools
import os
import random
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa
from datasketch import MinHash, MinHashLSH

from corpus import recipe
from corpus.dedup import clusters, lsh, minhash
from corpus.schema import documents_to_batch, new_document
from corpus.storage import Layout, PartWriter
from corpus.fingerprints import fingerprint, FINGERPRINT_KEY
from corpus.text import normalize_for_shingles

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"
EDIT_LEVELS = (0.002, 0.01, 0.02, 0.03, 0.05, 0.08)  # fraction of words replaced: J ~ 0.99 .. 0.6


def passages(words_per: int) -> list[str]:
    out = []
    for f in ("DerikGreeff__SMS-Assignment/pg1342.txt", "DerikGreeff__SMS-Assignment/pg1661.txt"):
        w = (SAMPLES / "books" / f).read_text(encoding="utf-8").split()
        out += [" ".join(w[i:i + words_per]) for i in range(0, len(w) - words_per, words_per)]
    return out


def c4_pages() -> list[str]:
    import gzip
    import json
    texts = []
    for f in sorted((SAMPLES / "c4").glob("*.json.gz")):
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            texts += [json.loads(line)["text"] for line in fh if line.strip()]
    return texts


def edit(text: str, fraction: float, rng: random.Random) -> str:
    w = text.split()
    for i in rng.sample(range(len(w)), max(1, int(round(fraction * len(w))))):
        w[i] = f"xq{rng.randrange(10**9)}"
    return " ".join(w)


def build_set(copies_of: int, seed: int = 0) -> tuple[list[str], list[tuple[int, int]]]:
    rng = random.Random(seed)
    originals = passages(300) + c4_pages()
    texts, families = list(originals), []
    for i in range(min(copies_of, len(originals))):
        texts.append(edit(originals[i], EDIT_LEVELS[i % len(EDIT_LEVELS)], rng))
        families.append((i, len(texts) - 1))
    return texts, families


def write_corpus(root: Path, texts: list[str], parts: int) -> Layout:
    layout = Layout(root)
    docs = [new_document("c4", f"bench:{i:07d}", t) for i, t in enumerate(texts)]
    for p in range(parts):
        chunk = docs[p::parts]
        with PartWriter(layout, "exact_dedup", "c4", f"part-{p:03d}", fingerprint("bench", p, len(chunk))) as w:
            w.write(documents_to_batch(chunk))
    return layout


def run_ours(layout: Layout, num_partitions: int, params: minhash.MinHashParams):
    import pyarrow.parquet as pq
    parts = [("c4", 0, p, pq.read_schema(p).metadata[FINGERPRINT_KEY].decode()) for p in layout.docs_parts("exact_dedup", "c4")]
    work = layout.work / "near_dedup"
    index, _ = clusters.update_signatures(layout, parts, params, work / "signatures")
    manifest = clusters.write_band_table(index, params, work / "bands", num_partitions)
    files = [clusters.partition_edges(work / "bands", work / "edges", n, manifest, None)[0]
             for n in manifest["partitions"]]
    nodes, roots = clusters.stream_components(files)
    return index, list(zip(nodes.tolist(), roots.tolist()))


def run_ours_in_memory(texts: pa.Array, params: minhash.MinHashParams):
    sig, counts = minhash.signatures(texts, params)
    docs = np.flatnonzero(counts > 0)
    keys = lsh.band_keys(sig[docs], params.bands, params.rows)
    a, b = lsh.star_edges(keys.reshape(-1), np.repeat(docs, params.bands))
    nodes, roots = clusters.connected_components(a, b)
    return list(zip(nodes.tolist(), roots.tolist()))


def datasketch_shingles(words: list[str], n: int) -> list[bytes]:
    if len(words) < n:
        return [" ".join(words).encode()] if words else []
    return [" ".join(words[i:i + n]).encode() for i in range(len(words) - n + 1)]


def run_datasketch(texts: pa.Array, params: minhash.MinHashParams):
    sets = [datasketch_shingles(t.split(), params.ngram) for t in normalize_for_shingles(texts).to_pylist()]
    hashes = MinHash.bulk(sets, num_perm=params.num_perm)
    index = MinHashLSH(threshold=params.threshold, num_perm=params.num_perm, params=(params.bands, params.rows))
    for i, m in enumerate(hashes):
        index.insert(i, m)
    a, b = [], []
    for i, m in enumerate(hashes):
        for j in index.query(m):
            if j != i:
                a.append(min(i, j))
                b.append(max(i, j))
    nodes, roots = clusters.connected_components(np.array(a, np.int64), np.array(b, np.int64))
    return list(zip(nodes.tolist(), roots.tolist()))


def timed(fn, *fn_args):
    started, cpu = time.perf_counter(), time.process_time()
    result = fn(*fn_args)
    return result, time.perf_counter() - started, time.process_time() - cpu


def component_pairs(labels: list[tuple[int, int]]) -> set[tuple[int, int]]:
    groups: dict[int, list[int]] = {}
    for node, root in labels:
        groups.setdefault(root, []).append(node)
    return {tuple(sorted(p)) for g in groups.values() for p in itertools.combinations(sorted(g), 2)}


def scores(pred: set, truth: set, exact) -> dict:
    tp = sum(1 for p in pred if exact(p) >= args.threshold)
    precision = tp / len(pred) if pred else 1.0
    recall = len(pred & truth) / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return dict(pairs=len(pred), precision=precision, recall=recall, f1=f1)


def quality_and_speed() -> None:
    texts, families = build_set(args.copies)
    print(f"test set: {len(texts)} documents ({len(texts) - len(families)} real originals, {len(families)} edited copies)")
    sets = [minhash.shingle_set(t, recipe.MINHASH_NGRAM) for t in texts]
    cache: dict = {}

    def exact(p):
        if p not in cache:
            cache[p] = minhash.jaccard(sets[p[0]], sets[p[1]])
        return cache[p]

    by_level: dict[float, list[float]] = {}
    for k, (i, j) in enumerate(families):
        by_level.setdefault(EDIT_LEVELS[k % len(EDIT_LEVELS)], []).append(exact((i, j)))
    print("edit level -> mean exact Jaccard: " + ", ".join(f"{lv:.3f}->{np.mean(v):.3f}" for lv, v in by_level.items()))

    params = minhash.MinHashParams.for_threshold(args.threshold)
    column = pa.array(texts, pa.large_string())
    with tempfile.TemporaryDirectory() as tmp:
        layout = write_corpus(Path(tmp) / "data", texts, parts=8)
        (index, labels), pipe_s, pipe_cpu = timed(run_ours, layout, recipe.NEAR_DEDUP_BAND_PARTITIONS, params)
        # ordinals -> positions in ``texts`` (parts interleave the documents)
        by_id = {new_document("c4", f"bench:{i:07d}", "")["id"]: i for i in range(len(texts))}
        position = [by_id[i] for i in index.ids(np.arange(index.size))]
    pipe_pairs = component_pairs([(position[n], position[r]) for n, r in labels])
    mem_labels, mem_s, mem_cpu = timed(run_ours_in_memory, column, params)
    ds_labels, ds_s, ds_cpu = timed(run_datasketch, column, params)
    runs = {"ours, pipeline (Parquet I/O)": (pipe_pairs, pipe_s, pipe_cpu),
            "ours, in memory": (component_pairs(mem_labels), mem_s, mem_cpu),
            "datasketch, in memory": (component_pairs(ds_labels), ds_s, ds_cpu)}

    truth = {tuple(sorted(p)) for p in families if exact(tuple(sorted(p))) >= args.threshold}
    truth |= {p for pred, _, _ in runs.values() for p in pred if exact(p) >= args.threshold}
    print(f"threshold {args.threshold}, {params.num_perm} permutations, {params.bands} bands x {params.rows} rows; "
          f"true pairs: {len(truth)}; timings on {len(os.sched_getaffinity(0))} core(s)")
    print(f"{'':28s} {'precision':>9s} {'recall':>7s} {'F1':>7s} {'pairs':>6s} {'cpu s':>7s} {'docs/cpu-s':>10s} "
          f"{'wall s':>7s} {'docs/s':>8s}")
    for name, (pred, secs, cpu) in runs.items():
        q = scores(pred, truth, exact)
        print(f"{name:28s} {q['precision']:9.4f} {q['recall']:7.4f} {q['f1']:7.4f} {q['pairs']:6d} {cpu:7.2f} "
              f"{len(texts) / cpu:10.1f} {secs:7.2f} {len(texts) / secs:8.1f}")
    for name, (_, secs, cpu) in list(runs.items())[:2]:
        print(f"speed-up over datasketch, {name}: cpu {ds_cpu / cpu:.2f}x (primary), wall {ds_s / secs:.2f}x")


def partition_memory() -> None:
    """Peak tracemalloc of one band partition's processing, corpus N vs 2N, partitions P vs 2P."""
    base = passages(60)
    rng = random.Random(1)
    for size, parts in ((args.memory_docs, 4), (2 * args.memory_docs, 8)):
        texts = [edit(base[i % len(base)], 0.02 + 0.3 * (i // len(base) % 2), rng) for i in range(size)]
        with tempfile.TemporaryDirectory() as tmp:
            layout = write_corpus(Path(tmp) / "data", texts, parts=4)
            run_ours(layout, parts, minhash.MinHashParams.for_threshold(args.threshold))
            work = layout.work / "near_dedup"
            manifest = clusters.read_manifest(work / "bands")
            peaks = []
            for name in manifest["partitions"]:
                tracemalloc.start()
                clusters.process_partition(lsh.read_partition(work / "bands" / f"{name}.parquet"))
                peaks.append(tracemalloc.get_traced_memory()[1])
                tracemalloc.stop()
            rows = max(manifest["rows"].values())
            print(f"corpus {size:6d} docs, {parts} partitions: largest partition {rows:7d} band rows, "
                  f"peak per partition {max(peaks) / 2**20:6.2f} MiB (mean {np.mean(peaks) / 2**20:.2f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=600, help="originals that get an edited copy")
    parser.add_argument("--threshold", type=float, default=recipe.MINHASH_THRESHOLD)
    parser.add_argument("--memory-docs", type=int, default=20_000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    quality_and_speed()
    partition_memory()
