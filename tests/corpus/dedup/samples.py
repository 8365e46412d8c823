"""Real documents from ../shared/samples for the near-dedup tests, and edited copies of them."""
from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

from corpus.recipe import NEAR_DEDUP_CANDIDATE_THRESHOLD, SOURCES
from corpus.schema import documents_to_batch, new_document
from corpus.storage import Layout, PartWriter
from corpus.fingerprints import fingerprint

BOOKS = "books"


def book_documents(samples: Path) -> dict[str, list[dict]]:
    """One document per Gutenberg sample file, text as stored (nothing stripped), grouped by folder."""
    out: dict[str, list[dict]] = {}
    for f in sorted((samples / "books").glob("*/*.txt")):
        locator = f"{f.parent.name}/{f.name}"
        out.setdefault(f.parent.name, []).append(
            new_document(BOOKS, locator, f.read_text(encoding="utf-8"), path=locator))
    return out


def c4_texts(samples: Path) -> list[str]:
    texts = []
    for f in sorted((samples / "c4").glob("*.json.gz")):
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            texts += [json.loads(line)["text"] for line in fh if line.strip()]
    return texts


def book_chunks(samples: Path, words: int = 300, limit: int = 200) -> list[str]:
    """Consecutive ``words``-word passages of one full edition of each book (distinct real texts)."""
    chunks = []
    for f in ("DerikGreeff__SMS-Assignment/pg1342.txt", "DerikGreeff__SMS-Assignment/pg1661.txt"):
        w = (samples / "books" / f).read_text(encoding="utf-8").split()
        chunks += [" ".join(w[i:i + words]) for i in range(0, len(w) - words, words)]
    return chunks[:limit] if limit else chunks


def edit_words(text: str, fraction: float, seed: int) -> str:
    """Replace ``fraction`` of the words by words that occur nowhere else (positions seeded)."""
    rng = random.Random(seed)
    w = text.split()
    for i in rng.sample(range(len(w)), int(round(fraction * len(w)))):
        w[i] = f"xq{rng.randrange(10**9)}"
    return " ".join(w)


def write_part(layout: Layout, stage: str, source: str, part: str, docs: list[dict]) -> None:
    with PartWriter(layout, stage, source, part, fingerprint(source, part, [d["id"] for d in docs])) as w:
        w.count_in(len(docs), sum(len(d["text"]) for d in docs))
        w.write(documents_to_batch(docs))


def docs_for(source: str, name: str, texts: list[str], meta: dict | None = None) -> list[dict]:
    return [new_document(source, f"{name}:{i}", t, meta=meta) for i, t in enumerate(texts)]


def run_pipeline(layout: Layout, num_partitions: int, verify_sources=SOURCES, thresholds=None,
                 threshold: float = 0.8, candidate_threshold: float = NEAR_DEDUP_CANDIDATE_THRESHOLD,
                 scope: str = "global", group_pairs: int | None = None):
    """The pure near-dedup steps over the exact_dedup parts, as the assets chain them."""
    from corpus import recipe
    from corpus.dedup import clusters, minhash
    from corpus.fingerprints import FINGERPRINT_KEY
    import pyarrow.parquet as pq

    parts = [(s, r, p, (pq.read_schema(p).metadata or {})[FINGERPRINT_KEY].decode())
             for r, s in enumerate(recipe.DEDUP_SOURCE_PRIORITY) for p in layout.docs_parts("exact_dedup", s)]
    work = layout.work / "near_dedup"
    params = minhash.MinHashParams.for_threshold(threshold, candidate_threshold=candidate_threshold)
    index, computed = clusters.update_signatures(layout, parts, params, work / "signatures")
    manifest = clusters.write_band_table(index, params, work / f"bands-{num_partitions}", num_partitions, scope)
    verifier = clusters.make_verifier(layout, manifest, verify_sources, thresholds or {"books": 0.9})
    edges = work / f"edges-{num_partitions}"
    files = [clusters.partition_edges(work / f"bands-{num_partitions}", edges, n, manifest, verifier)[0]
             for n in manifest["partitions"]]
    if verifier is not None:
        files += [g.edges for g in clusters.verify_candidates(edges, manifest["partitions"], manifest, verifier,
                                                              group_pairs=group_pairs or recipe.NEAR_DEDUP_VERIFY_GROUP_PAIRS)]
    return clusters.merge_removals(files, index), verifier, computed
