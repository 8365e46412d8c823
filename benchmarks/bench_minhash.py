"""Near-dedup benchmark: our vectorised MinHash LSH against datasketch, on real text from ../shared/samples.

Test set: 300-word passages of two Gutenberg books (one full edition each) + the C4 sample pages as
originals; for some originals one copy with a fraction of its words replaced (known edit levels, exact
Jaccard measured on the 5-gram shingle sets). Both systems see the same documents, the same
normalisation and shingles, 128 permutations, threshold 0.8 (so the same 9 bands x 13 rows):

- ours: signatures per part, band table in partitions, star edges, union-find (corpus.dedup.*), all from
  Parquet parts on disk, verification off (the same algorithm as datasketch's);
- datasketch: shingles in Python, ``MinHash.bulk``, ``MinHashLSH.insert`` then ``query`` per document,
  the same union-find on the query results.

Quality: a pair is predicted when both documents end in one component; it is a true duplicate when its
exact Jaccard >= the threshold. Then the band-partition memory: peak tracemalloc of processing one band
partition for a corpus and for one twice its size split into twice the partitions.

Run: ``.venv/bin/python -m benchmarks.bench_minhash`` (about a minute on one core).
"""
from __future__ import annotations

import argparse
import itertools
import random
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from datasketch import MinHash, MinHashLSH

from corpus import recipe
from corpus.dedup import clusters, lsh, minhash
from corpus.schema import documents_to_batch, new_document
from corpus.storage import FINGERPRINT_KEY, Layout, PartWriter, fingerprint
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


def run_ours(layout: Layout, num_partitions: int, threshold: float):
    import pyarrow.parquet as pq
    parts = [("c4", 0, p, pq.read_schema(p).metadata[FINGERPRINT_KEY].decode()) for p in layout.docs_parts("exact_dedup", "c4")]
    work = layout.work / "near_dedup"
    params = minhash.MinHashParams.for_threshold(threshold)
    index, _ = clusters.update_signatures(layout.root, parts, params, work / "signatures")
    manifest = clusters.write_band_table(index, params, work / "bands", num_partitions)
    tables = [clusters.partition_edges(work / "bands", work / "edges", n, manifest, None, {})[0]
              for n in manifest["partitions"]]
    edges = [t for t in tables if t.num_rows]
    if not edges:
        return index, []
    import pyarrow as pa
    e = pa.concat_tables(edges)
    nodes, roots = clusters.connected_components(e.column("doc").to_numpy(), e.column("root").to_numpy())
    return index, list(zip(nodes.tolist(), roots.tolist()))


def datasketch_shingles(text: str, n: int) -> list[bytes]:
    w = normalize_for_shingles(text).split()
    if len(w) < n:
        return [" ".join(w).encode()] if w else []
    return [" ".join(w[i:i + n]).encode() for i in range(len(w) - n + 1)]


def run_datasketch(texts: list[str], threshold: float, num_perm: int, n: int):
    sets = [datasketch_shingles(t, n) for t in texts]
    hashes = MinHash.bulk(sets, num_perm=num_perm)
    index = MinHashLSH(threshold=threshold, num_perm=num_perm)
    for i, m in enumerate(hashes):
        index.insert(i, m)
    a, b = [], []
    for i, m in enumerate(hashes):
        for j in index.query(m):
            if j != i:
                a.append(min(i, j))
                b.append(max(i, j))
    nodes, roots = clusters.connected_components(np.array(a, np.int64), np.array(b, np.int64))
    return list(zip(nodes.tolist(), roots.tolist())), (index.b, index.r)


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

    with tempfile.TemporaryDirectory() as tmp:
        layout = write_corpus(Path(tmp) / "data", texts, parts=8)
        started, cpu = time.perf_counter(), time.process_time()
        index, labels = run_ours(layout, recipe.NEAR_DEDUP_BAND_PARTITIONS, args.threshold)
        ours_s, ours_cpu = time.perf_counter() - started, time.process_time() - cpu
        # ordinals -> positions in ``texts`` (parts interleave the documents)
        by_id = {new_document("c4", f"bench:{i:07d}", "")["id"]: i for i in range(len(texts))}
        position = [by_id[i] for i in index.ids(np.arange(index.size))]
    ours_pairs = component_pairs([(position[n], position[r]) for n, r in labels])

    started, cpu = time.perf_counter(), time.process_time()
    ds_labels, (b, r) = run_datasketch(texts, args.threshold, recipe.MINHASH_NUM_PERM, recipe.MINHASH_NGRAM)
    ds_s, ds_cpu = time.perf_counter() - started, time.process_time() - cpu
    ds_pairs = component_pairs(ds_labels)

    truth = {tuple(sorted(p)) for p in families if exact(tuple(sorted(p))) >= args.threshold}
    truth |= {p for p in ours_pairs | ds_pairs if exact(p) >= args.threshold}
    params = minhash.MinHashParams.for_threshold(args.threshold)
    print(f"threshold {args.threshold}, 128 permutations; ours {params.bands}x{params.rows}, datasketch {b}x{r}; "
          f"true pairs: {len(truth)}")
    for name, pred, secs, cpu in (("ours", ours_pairs, ours_s, ours_cpu), ("datasketch", ds_pairs, ds_s, ds_cpu)):
        s = scores(pred, truth, exact)
        print(f"{name:10s} precision {s['precision']:.4f} recall {s['recall']:.4f} F1 {s['f1']:.4f} "
              f"pairs {s['pairs']:5d}  wall {secs:6.2f} s {len(texts) / secs:7.1f} docs/s  "
              f"cpu {cpu:6.2f} s {len(texts) / cpu:7.1f} docs/cpu-s")
    print(f"speed-up: wall {ds_s / ours_s:.2f}x, cpu {ds_cpu / ours_cpu:.2f}x (the machine is shared: cpu is the fairer)")


def partition_memory() -> None:
    """Peak tracemalloc of one band partition's processing, corpus N vs 2N, partitions P vs 2P."""
    base = passages(60)
    rng = random.Random(1)
    for size, parts in ((args.memory_docs, 4), (2 * args.memory_docs, 8)):
        texts = [edit(base[i % len(base)], 0.02 + 0.3 * (i // len(base) % 2), rng) for i in range(size)]
        with tempfile.TemporaryDirectory() as tmp:
            layout = write_corpus(Path(tmp) / "data", texts, parts=4)
            run_ours(layout, parts, args.threshold)
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
    quality_and_speed()
    partition_memory()
