"""Throughput (documents/s on ONE core) of the LLaMA-3 URL filter and the quality classifier stage, on the real
Common Crawl sample pages (repeated up to ``--docs``), for the llama3 benchmark report.

- URL filter: UT1-sized synthetic lists (``--domains`` random domains, 1/10 as many URL entries; UT1's adult
  category has millions of domains) and word lists the size of LDNOOBW's English list (~400 entries), built
  here: the cost is the lookups and the Aho-Corasick passes, whatever the entries are. Loading the lists is
  timed apart.
- Quality classifier: a model trained here on the samples (the stage's cost, not a production model), then
  the stage's two passes: scoring the snapshot for the cut-off, and filtering at it (reusing those scores).

    .venv/bin/python -m benchmarks.bench_url_quality [--docs 20000] [--domains 1000000] [--json OUT]

Each measurement runs in a fresh subprocess pinned to one core with every thread pool at 1; docs/s is per
CPU second of that process.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import common

SAMPLES = common.REPO.parent / "shared" / "samples"


def _web_docs(n_docs: int) -> list[dict]:
    from tests.quality_models.test_kenlm_model import sample_docs

    pages = [d for docs in sample_docs("commoncrawl", str(SAMPLES)).values() for d in docs]
    return [dict(pages[i % len(pages)], id=f"commoncrawl-{i}") for i in range(n_docs)]


def _timed(fn):
    c0, t0 = common.cpu_seconds(), time.perf_counter()
    out = fn()
    return out, common.cpu_seconds() - c0, time.perf_counter() - t0


def url_filter_child(n_docs: int, n_domains: int) -> dict:
    import numpy as np

    from corpus.filters import url
    from corpus.schema import batches

    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789"))
    names = ["".join(rng.choice(letters, 10)) for _ in range(n_domains)]
    words = ["".join(rng.choice(letters[:26], int(k))) for k in rng.integers(4, 9, 400)]

    def load():
        return url.UrlFilter("commoncrawl", url.Blocklists({f"{n}.com": "adult" for n in names},
                                                           {f"{n}.org/path": "adult" for n in names[: n_domains // 10]}),
                             banned_words=words[:100], soft_banned_words=words[100:200], banned_subwords=words[200:250],
                             dirty_words=words)

    flt, load_cpu, _ = _timed(load)
    docs = _web_docs(n_docs)
    chars = sum(len(d["text"]) for d in docs)
    kept, cpu, wall = _timed(lambda: sum(flt(b)[0].num_rows for b in batches(docs)))
    return {"stage": "url_filter", "docs": n_docs, "kept": kept, "text_mb": chars / 1e6, "domains": n_domains,
            "load_cpu_s": round(load_cpu, 2), "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
            "docs_per_s_per_core": round(n_docs / cpu, 1)}


def quality_classifier_child(n_docs: int) -> dict:
    import numpy as np

    from corpus import recipe
    from corpus.filters import quality_classifier as qf
    from corpus.storage import iter_batches
    from quality_models import quality_classifier as qc
    from tests.quality_models.test_kenlm_model import sample_docs, write_parts

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        positives = {s: write_parts(root, "ingest", s, sample_docs(s, str(SAMPLES)))
                     for s in recipe.QUALITY_CLASSIFIER_POSITIVE_SOURCES}
        web = write_parts(root, "wikiref", "commoncrawl", {"bench": _web_docs(n_docs)})
        (folder, manifest, _), train_cpu, train_wall = _timed(lambda: qc.train_classifier(
            qc.QualityInputs(positives, {"commoncrawl": write_parts(root, "langid", "commoncrawl",
                                                                     {"train": _web_docs(318)})}),
            root / "models", qc.QualityParams()))
        scorer = qc.scorer_of(folder)
        known, score_cpu, _ = _timed(lambda: qf.score_sample(scorer, web, recipe.QUALITY_CLASSIFIER_SAMPLE_DOCS))
        threshold = qf.keep_threshold(np.fromiter(known.values(), np.float64), recipe.QUALITY_CLASSIFIER_KEEP_FRACTION)
        flt = qf.QualityClassifierFilter("commoncrawl", scorer, threshold, known)
        kept, filter_cpu, _ = _timed(lambda: sum(flt(b)[0].num_rows for b in iter_batches(web)))
    cpu = score_cpu + filter_cpu
    return {"stage": "quality_classifier", "docs": n_docs, "kept": kept, "train_examples": manifest["train_examples"],
            "train_wall_s": round(train_wall, 2), "score_pass_cpu_s": round(score_cpu, 3),
            "filter_pass_cpu_s": round(filter_cpu, 3), "cpu_s": round(cpu, 3),
            "docs_per_s_per_core": round(n_docs / cpu, 1)}


def bench(n_docs: int, n_domains: int) -> dict:
    """Both stages, each in its own one-core subprocess (what bench_llama3 calls)."""
    me = [sys.executable, "-m", "benchmarks.bench_url_quality", "--child"]
    return {"url_filter": common.run_json([*me, "url_filter", "--docs", str(n_docs), "--domains", str(n_domains)]),
            "quality_classifier": common.run_json([*me, "quality_classifier", "--docs", str(n_docs)])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--domains", type=int, default=1_000_000)
    ap.add_argument("--json")
    ap.add_argument("--child", choices=("url_filter", "quality_classifier"))
    args = ap.parse_args()
    if args.child:
        common.pin_one_core()
        common.emit(url_filter_child(args.docs, args.domains) if args.child == "url_filter"
                    else quality_classifier_child(args.docs))
        return
    common.report(bench(args.docs, args.domains), args.json)


if __name__ == "__main__":
    main()
