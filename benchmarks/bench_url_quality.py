"""Throughput (documents/s on ONE core) of the LLaMA-3 URL filter and the quality classifier stage, on the real
Common Crawl sample pages (repeated up to ``--docs``), for the llama3 benchmark report.

- URL filter: UT1-sized synthetic lists (``--domains`` random domains, 1/10 as many URL entries; UT1's adult
  category has millions of domains) and word lists the size of LDNOOBW's English list (~400 entries), built
  here: the cost is the lookups and the Aho-Corasick passes, whatever the entries are. Loading the lists is
  timed apart. Reference: datatrove 0.10.1's ``URLFilter`` with the same lists (its bundled ones off, its
  public-suffix list the bundled snapshot: no download), on the same pages. It has no dirty-word count, so the
  like-for-like figure is ``url_only`` (our filter without its dirty-word list: blocklists and URL words);
  the stage's own figure includes the dirty-word pass over the text.
- Quality classifier: a model trained here on the samples (the stage's cost, not a production model), then
  the stage's two passes: scoring the snapshot for the cut-off, and filtering at it (reusing those scores).
  Reference: datatrove's ``FastTextClassifierFilter`` with the same model file, at the same cut-off, one
  ``predict`` per page (one pass: it takes a fixed threshold, not a rank). The like-for-like figure is our
  scoring pass (each page normalised, ``fasttext_text``, and scored once, one ``predict`` per batch); the
  stage's figure adds the filter pass.

    .venv/bin/python -m benchmarks.bench_url_quality [--docs 20000] [--domains 1000000] [--json OUT]

Each measurement runs in a fresh subprocess pinned to one core with every thread pool at 1; docs/s is per
CPU second of that process.
"""
from __future__ import annotations

import argparse
import dataclasses
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
    data = list(batches(docs))
    url_only = dataclasses.replace(flt, dirty_words=())  # the work datatrove's URLFilter does: the URL alone
    for b in data:  # untimed: the process's first copies of the kept batches fault their pages in
        url_only(b)
    url_kept, url_cpu, _ = _timed(lambda: sum(url_only(b)[0].num_rows for b in data))
    kept, cpu, wall = _timed(lambda: sum(flt(b)[0].num_rows for b in data))
    return {"stage": "url_filter", "docs": n_docs, "kept": kept, "text_mb": chars / 1e6, "domains": n_domains,
            "load_cpu_s": round(load_cpu, 2), "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
            "docs_per_s_per_core": round(n_docs / cpu, 1),
            "url_only": {"kept": url_kept, "cpu_s": round(url_cpu, 3), "docs_per_s_per_core": round(n_docs / url_cpu, 1)},
            "datatrove": _datatrove_url_filter(flt, docs)}


def _datatrove_url_filter(ours, docs: list[dict]) -> dict | None:
    """datatrove's URLFilter on ``docs`` with ``ours``' lists; None when datatrove is not installed."""
    try:
        from datatrove.data import Document
        from datatrove.pipeline.filters import URLFilter
        from tldextract import TLDExtract
    except ImportError:
        return None
    flt = URLFilter(extra_domains=list(ours.blocklists.domains), extra_urls=list(ours.blocklists.urls),
                    banned_words=ours.banned_words,
                    soft_banned_words=ours.soft_banned_words, banned_subwords=ours.banned_subwords,
                    use_integrated_lists=False)
    flt.tldextractor = TLDExtract(suffix_list_urls=())  # the bundled public-suffix snapshot: nothing leaves the machine
    pages = [Document(text=d["text"], id=d["id"], metadata={"url": d["url"]}) for d in docs]
    kept, cpu, _ = _timed(lambda: sum(flt.filter(p) is True for p in pages))
    return {"docs": len(pages), "kept": kept, "cpu_s": round(cpu, 3), "docs_per_s_per_core": round(len(pages) / cpu, 1)}


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
        reference = _datatrove_fasttext_filter(folder / "model.bin", threshold, _web_docs(n_docs))
    cpu = score_cpu + filter_cpu
    return {"stage": "quality_classifier", "docs": n_docs, "kept": kept, "train_examples": manifest["train_examples"],
            "train_wall_s": round(train_wall, 2), "score_pass_cpu_s": round(score_cpu, 3),
            "score_pass_docs_per_s_per_core": round(n_docs / score_cpu, 1),
            "filter_pass_cpu_s": round(filter_cpu, 3), "cpu_s": round(cpu, 3),
            "docs_per_s_per_core": round(n_docs / cpu, 1), "datatrove": reference}


def _datatrove_fasttext_filter(model: Path, threshold: float, docs: list[dict]) -> dict | None:
    """datatrove's FastTextClassifierFilter with ``model`` (loaded from its path: no download cache), keeping
    P(hq) >= ``threshold``; None when datatrove is not installed."""
    try:
        from datatrove.data import Document
        from datatrove.pipeline.filters import FastTextClassifierFilter
        from fasttext.FastText import _FastText
    except ImportError:
        return None
    from corpus.filters.quality_classifier import POSITIVE

    # datatrove asks for the distribution fasttext-numpy2-wheel; the project's is fasttext-numpy2, the same module
    # (pyproject.toml: never a second fastText build beside it). This runs in a benchmark's own subprocess.
    FastTextClassifierFilter._requires_dependencies = ["fasteners"]
    flt = FastTextClassifierFilter(str(model), keep_labels=[(POSITIVE.removeprefix("__label__"), threshold)])
    flt._model = _FastText(str(model))
    pages = [Document(text=d["text"], id=d["id"]) for d in docs]
    kept, cpu, _ = _timed(lambda: sum(bool(flt.filter(p)) for p in pages))
    return {"docs": len(pages), "kept": kept, "cpu_s": round(cpu, 3), "docs_per_s_per_core": round(len(pages) / cpu, 1)}


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
