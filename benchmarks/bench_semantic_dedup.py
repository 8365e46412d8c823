"""Semantic dedup (SemDeDup) throughput on one core: model training, embedding, clustering + pairs.

Input: ``benchmarks.common.derived_documents`` (real sample texts of every source, cycled, each copy
perturbed, with site boilerplate) written as near_dedup Common Crawl parts of ``PART_DOCS`` documents.
The three steps of the stage run as the assets chain them (``quality_models.semantic_embeddings``,
``corpus.dedup.semantic``) with the recipe's settings; each is timed in CPU seconds of this process and
its children (fastText trains in a child process), pinned to one core, so docs/s is per core.

Run: ``.venv/bin/python -m benchmarks.bench_semantic_dedup [--docs 3000] [--json out.json]``;
``bench_semantic_dedup(docs)`` is what a report (benchmarks/bench_llama3.py) calls.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmarks.common import cpu_seconds, derived_documents, pin_one_core, report
from corpus import recipe
from corpus.dedup import semantic
from corpus.schema import documents_to_batch, new_document
from corpus.storage import Layout, PartWriter, iter_batches, write_table_atomic
from corpus.fingerprints import fingerprint
from quality_models import semantic_embeddings

PART_DOCS = 1000


def _children_cpu() -> float:
    """CPU seconds of the waited-for children (fastText trains in a child process)."""
    t = os.times()
    return t.children_user + t.children_system


def _write_parts(layout: Layout, n_docs: int) -> int:
    docs = [new_document("commoncrawl", f"bench:{i}", d.text, url=d.uri) for i, d in enumerate(derived_documents(n_docs))]
    for p in range(0, len(docs), PART_DOCS):
        chunk = docs[p:p + PART_DOCS]
        name = f"part-{p // PART_DOCS:04d}"
        with PartWriter(layout, "near_dedup", "commoncrawl", name, fingerprint(name, len(chunk))) as w:
            w.count_in(len(chunk), sum(len(d["text"]) for d in chunk))
            w.write(documents_to_batch(chunk))
    return sum(len(d["text"]) for d in docs)


def bench_semantic_dedup(n_docs: int = 3000) -> dict:
    """docs/s per core of each step of the semantic-dedup stage on ``n_docs`` derived documents."""
    with tempfile.TemporaryDirectory() as tmp:
        layout = Layout(Path(tmp) / "data")
        chars = _write_parts(layout, n_docs)
        parts = layout.docs_parts("near_dedup", "commoncrawl")

        cpu, children, wall = cpu_seconds(), _children_cpu(), time.perf_counter()
        folder, manifest, _ = semantic_embeddings.train_embedding_model(parts, layout.models,
                                                                        semantic_embeddings.EmbeddingParams())
        train_cpu = cpu_seconds() - cpu + _children_cpu() - children
        train_wall = time.perf_counter() - wall

        cpu = cpu_seconds()
        embedder = semantic_embeddings.DocumentEmbedder(folder)
        embedded = []
        for path in parts:
            out = layout.work / "semantic_dedup" / "embeddings" / path.name
            batches = iter_batches([path], columns=["id", "source", "text"], batch_size=semantic.EMBED_BATCH_ROWS)
            write_table_atomic(out, semantic.part_embeddings(batches, embedder.embed, embedder.dim))
            embedded.append(semantic.EmbeddedPart("commoncrawl", recipe.DEDUP_SOURCE_PRIORITY.index("commoncrawl"), out))
        embed_cpu = cpu_seconds() - cpu

        cpu = cpu_seconds()
        result = semantic.find_duplicates(embedded, semantic.SemDedupParams(), layout.work / "semantic_dedup" / "groups")
        cluster_cpu = cpu_seconds() - cpu

    return {
        "docs": n_docs, "chars": chars, "dim": embedder.dim, "clusters": result.clusters,
        "removed": result.removals.num_rows, "eps": recipe.SEMDEDUP_EPS,
        "train_cpu_s": round(train_cpu, 2), "train_wall_s": round(train_wall, 2),
        "train_docs_per_s_per_core": round(n_docs / train_cpu, 1),
        "embed_cpu_s": round(embed_cpu, 2), "embed_docs_per_s_per_core": round(n_docs / embed_cpu, 1),
        "cluster_cpu_s": round(cluster_cpu, 2), "cluster_docs_per_s_per_core": round(n_docs / cluster_cpu, 1),
        "stage_docs_per_s_per_core": round(n_docs / (embed_cpu + cluster_cpu), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    pin_one_core()
    report(bench_semantic_dedup(args.docs), args.json)


if __name__ == "__main__":
    main()
