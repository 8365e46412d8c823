"""Per-stage throughput on ONE core, next to the physical references measured in the same process on
the same bytes: gzip decompression of the WET file and xxh3 hashing of its decompressed bytes. The
"x slower than gunzip" column says how far each stage is from I/O-bound.

Stages: parse WET (commoncrawl.read_documents), line dedup (both passes + DuckDB count), fastText LID
(lid.176), Gopher rules, KenLM perplexity (a 5-gram + BPE tokenizer trained here on the English sample
books: the stage's cost, not a production model), MinHash signatures (128 perms, word 5-grams) and BPE
tokenization (a tokenizer trained here, vocab 8,000). Input: the CommonCrawl-chain WET file
(benchmarks.common.build_wet). MB/s is UTF-8 text bytes of the stage's input per second.

    .venv/bin/python -m benchmarks.bench_stages [--docs 4000] [--runs 3] [--json OUT]

Each run is a fresh subprocess pinned to one core (os.sched_setaffinity) with every thread pool at 1.
"""
from __future__ import annotations

import argparse
import gzip
import io
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from benchmarks import common
from benchmarks.bench_cc_chain import WET_DIR


def _timed(fn, repeat: int = 1):
    """(result, wall s, CPU s) per call; ``repeat`` calls for the fast references (os.times ticks are 10 ms)."""
    c0, t0 = common.cpu_seconds(), time.perf_counter()
    for _ in range(repeat):
        out = fn()
    return out, (time.perf_counter() - t0) / repeat, (common.cpu_seconds() - c0) / repeat


def _train_models(work: Path) -> tuple[object, object]:
    """A SentencePiece + KenLM model and a BPE tokenizer trained on the English sample books (seconds, not minutes)."""
    from corpus import tokenizer
    from corpus.filters.perplexity import LanguageModel, normalized_lines
    from quality_models import kenlm_model

    texts = [t for k, t in common.sample_texts() if k in ("books", "wikipedia", "c4")]
    train, heldout = work / "en.train.txt", work / "en.heldout.txt"
    lines = [line for t in texts for line in normalized_lines(t)]
    train.write_text("\n".join(lines[: int(len(lines) * 0.95)]) + "\n", encoding="utf-8")
    heldout.write_text("\n".join(lines[int(len(lines) * 0.95):]) + "\n", encoding="utf-8")
    params = kenlm_model.KenlmParams(order=5, vocab_size=8000, holdout_fraction=0.05, min_train_lines=10,
                                     reference_max_docs=0, max_train_lines=len(lines), tokenizer_max_lines=len(lines))
    lt = SimpleNamespace(train=train, heldout=heldout, tokenizer=train, docs=len(texts), train_lines=len(lines),
                         tokenizer_lines=len(lines), available_lines=len(lines), heldout_lines=0, heldout_docs=None)
    files = kenlm_model.train_language("en", lt, params, work)
    lm = LanguageModel(work / files["sp"], work / files["lm"])
    tok = tokenizer.new_tokenizer()
    from tokenizers import trainers

    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=8000, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False))
    return lm, tok


def run_stages(wet: Path) -> dict:
    import xxhash

    from corpus import recipe
    from corpus.dedup import minhash
    from corpus.filters import gopher, langid as langid_filter, line_dedup
    from corpus.schema import Drop, batches
    from corpus.sources import commoncrawl
    from quality_models import language_identifier

    out: dict[str, dict] = {}
    gz = wet.read_bytes()
    # GzipFile streams member after member (gzip.decompress re-slices the rest of the input per member:
    # quadratic on Common Crawl's one-member-per-record files)
    raw, wall, cpu = _timed(lambda: gzip.GzipFile(fileobj=io.BytesIO(gz)).read(), repeat=20)
    out["gunzip (reference)"] = {"docs": None, "mb": len(raw) / 1e6, "wall_s": wall, "cpu_s": cpu}

    def xx():
        h = xxhash.xxh3_64()
        view = memoryview(raw)
        for i in range(0, len(raw), 1 << 20):
            h.update(view[i:i + (1 << 20)])
        return h.intdigest()
    _, wall, cpu = _timed(xx, repeat=50)
    out["xxh3 (reference)"] = {"docs": None, "mb": len(raw) / 1e6, "wall_s": wall, "cpu_s": cpu}

    docs, wall, cpu = _timed(lambda: [r for r in commoncrawl.read_documents(wet, wet.name) if not isinstance(r, Drop)])
    out["parse WET"] = {"docs": len(docs), "mb": len(raw) / 1e6, "wall_s": wall, "cpu_s": cpu}
    bs = list(batches(docs))
    text_mb = lambda b: sum(len(t.encode("utf-8")) for b_ in b for t in b_.column("text").to_pylist()) / 1e6  # noqa: E731
    n_docs = sum(b.num_rows for b in bs)

    with tempfile.TemporaryDirectory() as tmp:
        def dedup():
            hf, dups = common.line_dedup_one_part(bs, Path(tmp))
            f = line_dedup.LineDedupFilter(hf, dups, "commoncrawl")
            return [f(b)[0] for b in bs]
        deduped, wall, cpu = _timed(dedup)
    out["line dedup"] = {"docs": n_docs, "mb": text_mb(bs), "wall_s": wall, "cpu_s": cpu}

    lid = langid_filter.LangIdFilter(language_identifier.LanguageIdentifier(common.LID_MODEL), "commoncrawl")
    lid.identifier.predict(["warm up"])
    english, wall, cpu = _timed(lambda: [lid(b)[0] for b in deduped])
    out["fastText LID"] = {"docs": sum(b.num_rows for b in deduped), "mb": text_mb(deduped), "wall_s": wall, "cpu_s": cpu}

    gf = gopher.GopherFilter("commoncrawl")
    _, wall, cpu = _timed(lambda: [gf(b) for b in english])
    out["Gopher rules"] = {"docs": sum(b.num_rows for b in english), "mb": text_mb(english), "wall_s": wall, "cpu_s": cpu}

    # the stages after LID see English documents; the remaining stages run on every English document
    en_texts = [t for b in english for t in b.column("text").to_pylist()]
    with tempfile.TemporaryDirectory() as tmp:
        lm, tok = _train_models(Path(tmp))
        lm.perplexities(en_texts[:10])
        _, wall, cpu = _timed(lambda: lm.perplexities(en_texts))
    en_mb = sum(len(t.encode("utf-8")) for t in en_texts) / 1e6
    out["KenLM perplexity"] = {"docs": len(en_texts), "mb": en_mb, "wall_s": wall, "cpu_s": cpu}
    params = minhash.MinHashParams.for_threshold(recipe.MINHASH_THRESHOLD, recipe.MINHASH_NUM_PERM)
    _, wall, cpu = _timed(lambda: [minhash.signatures(en_texts[i:i + 1024], params) for i in range(0, len(en_texts), 1024)])
    out["MinHash signatures"] = {"docs": len(en_texts), "mb": en_mb, "wall_s": wall, "cpu_s": cpu}
    _, wall, cpu = _timed(lambda: [tok.encode_batch(en_texts[i:i + 1024]) for i in range(0, len(en_texts), 1024)])
    out["BPE tokenization"] = {"docs": len(en_texts), "mb": en_mb, "wall_s": wall, "cpu_s": cpu}
    return out


def _child(wet: str) -> None:
    common.pin_one_core()
    common.emit({"stages": run_stages(Path(wet))})


def bench(n_docs: int, runs: int) -> dict:
    wet = WET_DIR / "bench-00000.warc.wet.gz"
    common.build_wet(wet, n_docs)
    results = [common.run_json([str(common.VENV_PY), "-m", "benchmarks.bench_stages", "--child", str(wet)])
               for _ in range(runs)]
    stages = {}
    for name, first in results[0]["stages"].items():
        rs = [r["stages"][name] for r in results]
        cpu = common.median([r["cpu_s"] for r in rs])
        wall = common.median([r["wall_s"] for r in rs])
        stages[name] = {"docs": first["docs"], "mb": first["mb"], "cpu_s": cpu, "wall_s": wall,
                        "docs_per_s": first["docs"] / cpu if first["docs"] and cpu > 0 else None,
                        "mb_per_s": first["mb"] / cpu if cpu > 0 else None}
    gun = stages["gunzip (reference)"]["mb_per_s"]
    for s in stages.values():
        s["x_slower_than_gunzip"] = gun / s["mb_per_s"] if s["mb_per_s"] else None
    return {"docs": n_docs, "runs": runs, "stages": stages,
            "peak_rss_mb": max(r["peak_rss_mb"] for r in results)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=4000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json")
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        _child(args.child)
        return
    common.report(bench(args.docs, args.runs), args.json)


if __name__ == "__main__":
    main()
