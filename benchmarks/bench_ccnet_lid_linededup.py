"""Throughput of CCNet line dedup (pass 1 hashing, DuckDB count, pass 2 rewrite) and fastText language
ID (lid.176 alone, and with the bs/hr/sr + da/nb refiners), in documents per second on ONE core.

Documents come from ../shared/samples/langid/lingua-sentences: each language's sentences grouped into
documents of 8-16 lines, the whole set repeated ``--copies`` times; in a copy a line is either the
original (a true duplicate across copies, ~25%) or perturbed by a word of another sentence, and every
document gets 2 lines from a per-language pool of 20 "site boilerplate" lines. So the duplicate rate
and line lengths are those of real text, not of a synthetic alphabet.

    .venv/bin/python benchmarks/bench_ccnet_lid_linededup.py [--copies 5] [--refiners DIR]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus.filters import langid as langid_filter  # noqa: E402
from corpus.filters import line_dedup  # noqa: E402
from corpus.schema import batches, new_document  # noqa: E402
from quality_models import language_identifier  # noqa: E402

SAMPLES = Path(os.environ.get("CORPUS_SAMPLES_DIR", Path(__file__).resolve().parents[2] / "shared" / "samples"))


def make_documents(copies: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    docs = []
    for path in sorted((SAMPLES / "langid" / "lingua-sentences").glob("*.txt")):
        sentences = [s for s in path.read_text(encoding="utf-8").splitlines() if s.strip()]
        boiler = [sentences[i] for i in rng.choice(len(sentences), 20, replace=False)]
        for c in range(copies):
            order = rng.permutation(len(sentences))
            i = 0
            while i < len(order):
                n = int(rng.integers(8, 17))
                lines = []
                for j in order[i:i + n]:
                    s = sentences[j]
                    if c > 0 and rng.random() > 0.25:
                        other = sentences[int(rng.integers(len(sentences)))].split()
                        s = f"{s} {other[int(rng.integers(len(other)))]}" if other else s
                    lines.append(s)
                lines.insert(int(rng.integers(len(lines) + 1)), boiler[int(rng.integers(20))])
                lines.append(boiler[int(rng.integers(20))])
                docs.append(new_document("commoncrawl", f"{path.stem}:{c}:{i}", "\n".join(lines)))
                i += n
    return docs


class Timer:
    """Wall and CPU seconds of this process (on a shared machine CPU time is the fairer figure)."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def rate(self, n: int) -> str:
        return f"{n / self.cpu:,.0f} docs/CPU-s ({n / self.wall:,.0f} docs/s wall)"


def bench(copies: int, refiners: Path | None) -> None:
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    except (AttributeError, OSError):
        pass
    docs = make_documents(copies)
    batch_list = list(batches(docs))
    n = len(docs)
    lines = sum(d["text"].count("\n") + 1 for d in docs)
    print(f"{n:,} documents, {lines:,} lines, {sum(len(d['text']) for d in docs) / 1e6:.1f} M chars, 1 core")
    with tempfile.TemporaryDirectory() as tmp:
        with Timer() as t1:
            hashes = line_dedup.hash_part(batch_list)
            path = Path(tmp) / "hashes.parquet"
            pq.write_table(hashes, path)
            keys = Path(tmp) / "keys.parquet"
            pq.write_table(line_dedup.part_keys(hashes), keys)
        with Timer() as t2:
            dups = line_dedup.count_group([keys], 1, threads=1).duplicates
        with Timer() as t3:
            flt = line_dedup.LineDedupFilter(path, dups, "commoncrawl")
            kept = [flt(b) for b in batch_list]
        out_docs = sum(k.num_rows for k, _ in kept)
        out_lines = int(flt.keep.sum())
        print(f"line_dedup pass 1 (normalise + SHA-1 + write): {t1.rate(n)}, {lines / t1.cpu:,.0f} lines/CPU-s")
        print(f"line_dedup count (DuckDB, 1 thread):   {t2.cpu:.3f} CPU-s for {lines:,} lines, {len(dups):,} duplicate hashes")
        print(f"line_dedup pass 2 (rewrite):           {t3.rate(n)}")
        print(f"line_dedup total:                      {n / (t1.cpu + t2.cpu + t3.cpu):,.0f} docs/CPU-s; "
              f"lines kept {out_lines / lines:.3f}, docs kept {out_docs}/{n}")
    texts = [t for k, _ in kept for t in k.column("text").to_pylist()]
    dedup_batches = [k for k, _ in kept]
    for name, ident in [("lid.176", language_identifier.LanguageIdentifier()),
                        ("lid.176 + refiners", language_identifier.LanguageIdentifier(refiners_dir=refiners) if refiners else None)]:
        if ident is None:
            continue
        flt = langid_filter.LangIdFilter(ident, "commoncrawl")
        with Timer() as t:
            results = [flt(b) for b in dedup_batches]
        print(f"langid {name:<19} {t.rate(len(texts))}, {sum(len(x) for x in texts) / t.cpu / 1e6:.1f} M chars/CPU-s, "
              f"kept {sum(k.num_rows for k, _ in results)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=5)
    parser.add_argument("--refiners", type=Path, default=None, help="a train-refiners output folder")
    args = parser.parse_args()
    bench(args.copies, args.refiners)


if __name__ == "__main__":
    main()
