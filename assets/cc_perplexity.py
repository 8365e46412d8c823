"""KenLM perplexity per language: head/middle/tail buckets (CCNet), tail dropped.

Two passes: every part is scored first (``work/perplexity/scores/``) and the scores pooled per language
in a bounded sample; the per-language cut-offs are chosen (``corpus.filters.perplexity.choose_cutoffs``)
and persisted as the snapshot's cut-off table (``models/perplexity_cutoffs/<snapshot>/<key>.json``, reused
by later runs), then each part is written with ``perplexity`` and ``bucket`` filled. A document in a
language with no model (or no cut-offs) is kept with ``bucket`` null and counted as ``no_lm_for_lang``
(``no_model: drop`` drops it with that reason instead).
"""

import base64
import io
import time
from pathlib import Path
from typing import Dict, List, Tuple

import dagster as dg
import numpy as np

from assets.resources import CorpusStorage
from assets.stages import Unit, code_fingerprint, run_units, stage_metadata, upstream_fingerprint
from corpus import presets, recipe, snapshots
from corpus.filters import perplexity as ppl
from corpus.stage import filter_part
from corpus.storage import fingerprint, iter_batches
from quality_models import kenlm_model

SOURCE = "commoncrawl"


def histogram_markdown(values: Dict[str, np.ndarray], cutoffs: Dict[str, Tuple[float, ...]], xlabel: str,
                       out_dir: Path, log_x: bool) -> str:
    """One matplotlib histogram per language, cut-offs as vertical lines; PNGs saved under ``out_dir``
    and embedded in Markdown as base64 data URIs (the UI shows them)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    parts = []
    for lang, vals in sorted(values.items()):
        vals = vals[np.isfinite(vals)]
        if not vals.size:
            continue
        fig, ax = plt.subplots(figsize=(6, 3), dpi=80)
        bins = np.logspace(np.log10(max(vals.min(), 1e-3)), np.log10(vals.max() + 1e-9), 40) if log_x and vals.min() > 0 else 40
        ax.hist(vals, bins=bins, color="#4c72b0")
        if log_x and vals.min() > 0:
            ax.set_xscale("log")
        for c in cutoffs.get(lang, ()):
            ax.axvline(c, color="#c44e52", linestyle="--")
        ax.set_title(f"{lang}: {vals.size} docs, cut-offs {', '.join(f'{c:.3g}' for c in cutoffs.get(lang, ()))}")
        ax.set_xlabel(xlabel)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        (out_dir / f"{lang}.png").write_bytes(buf.getvalue())
        parts.append(f"![{lang}](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})")
    return "\n\n".join(parts) or "_no scored documents_"


class PerplexityConfig(dg.Config):
    """``cutoffs``: "auto" (CCNet's published values with CCNet's released models; otherwise the snapshot's
    ``percentiles`` with at least ``min_docs_for_percentiles`` documents of the language, else the trained
    model's reference distribution), "percentile" (never published values) or "ccnet" (published values,
    refused for any model but CCNet's). ``snapshot``: the cut-off table's name (default: the Common Crawl
    snapshot ids in the part names, or "local"). ``no_model``: "keep" or "drop"."""

    cutoffs: str = "auto"
    percentiles: List[float] = list(recipe.PERPLEXITY_PERCENTILES)
    keep_buckets: List[str] = list(recipe.PERPLEXITY_KEEP_BUCKETS)
    no_model: str = "keep"
    min_docs_for_percentiles: int = recipe.PERPLEXITY_MIN_DOCS_FOR_PERCENTILES
    sample_docs: int = recipe.PERPLEXITY_SAMPLE_DOCS
    snapshot: str = ""


def snapshot_label(parts: List[Path]) -> str:
    """The Common Crawl snapshot ids of the parts (their first path component), "local" for the others."""
    return "+".join(sorted({snapshots.snapshot_of(p.name.removesuffix(".parquet").replace("__", "/")) or "local"
                            for p in parts})) or "local"


@dg.asset(group_name="ccnet", deps=[*presets.asset_deps(ppl.STAGE), "perplexity_models"], kinds={"kenlm", "parquet"})
def cc_perplexity(context: dg.AssetExecutionContext, config: PerplexityConfig,
                  corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """KenLM perplexity per language: head/middle/tail buckets (of the documents of the recipe's previous stage)."""
    started = time.monotonic()
    if config.no_model not in ("keep", "drop"):
        raise ValueError(f"no_model must be 'keep' or 'drop', not {config.no_model!r}")
    layout = corpus_storage.layout()
    scorer = ppl.PerplexityScorer(kenlm_model.current_dir(layout.models, kenlm_model.NAME))
    code = code_fingerprint(ppl)
    score_dir = layout.work / ppl.STAGE / "scores" / SOURCE
    upstream = layout.docs_parts(corpus_storage.preset().upstream(SOURCE, ppl.STAGE), SOURCE)
    scores: Dict[Path, Path] = {}
    sample = ppl.ScoreSample(config.sample_docs)
    for path in upstream:  # pass 1
        fp = fingerprint(upstream_fingerprint(path), scorer.version, code)
        scores[path] = ppl.score_part(path, score_dir / path.name, scorer, fp)
        sample.add(ppl.read_scores(scores[path]))
    for stale in set(score_dir.glob("*.parquet")) - set(scores.values()) if score_dir.exists() else ():
        stale.unlink()
    chosen = ppl.choose_cutoffs(sample, scorer, config.cutoffs, config.percentiles, config.min_docs_for_percentiles,
                                recipe.CCNET_PERPLEXITY_CUTOFFS, recipe.PERPLEXITY_WIKI_REFERENCE_PERCENTILES)
    table_settings = dict(cutoffs=config.cutoffs, percentiles=list(config.percentiles),
                          min_docs=config.min_docs_for_percentiles, sample_docs=config.sample_docs)
    table = ppl.CutoffTable.resolve(layout.models / "perplexity_cutoffs", config.snapshot or snapshot_label(upstream),
                                    scorer.version, table_settings, chosen)
    cutoffs = table.pairs
    settings = dict(cutoffs=cutoffs, keep=sorted(config.keep_buckets), no_model=config.no_model, model=scorer.version)

    def unit(path: Path) -> Unit:
        def build(writer, progress) -> None:
            process = ppl.bucket_filter(ppl.read_scores(scores[path]), cutoffs, config.keep_buckets,
                                        config.no_model == "drop", SOURCE)
            filter_part(writer, iter_batches([path]), process, progress)

        return Unit(path.name.removesuffix(".parquet"), fingerprint(upstream_fingerprint(path), settings, code), build)

    stats = run_units(context, layout, ppl.STAGE, SOURCE, [unit(p) for p in upstream])  # pass 2
    buckets, no_model = ppl.bucket_counts(scores.values(), cutoffs)
    rows = "\n".join(f"| {lang} | {c.origin} | {c.docs} | {c.lo:.1f} | {c.hi:.1f} | {buckets[lang]['head']} | "
                     f"{buckets[lang]['middle']} | {buckets[lang]['tail']} |" for lang, c in table.languages.items())
    return dg.MaterializeResult(metadata=stage_metadata(
        stats, started,
        model_version=scorer.version,
        model_kind=scorer.kind,
        cutoffs_mode=config.cutoffs,
        cutoff_table=dg.MetadataValue.path(str(table.path)),
        cutoffs_reused=dg.MetadataValue.json(table.reused),
        cutoff_origin=dg.MetadataValue.json({lang: {"origin": c.origin, "docs": c.docs, "cutoffs": [c.lo, c.hi]}
                                             for lang, c in table.languages.items()}),
        no_lm_for_lang=int(no_model),
        buckets=dg.MetadataValue.md("| lang | cut-offs from | from docs | head/middle | middle/tail | head | middle | tail |\n"
                                    "|---|---|---|---|---|---|---|---|\n" + rows),
        bucket_counts=dg.MetadataValue.json(buckets),
        perplexity_histogram=dg.MetadataValue.md(histogram_markdown(
            {lang: sample.values(lang) for lang in sample.languages}, cutoffs, "perplexity",
            layout.work / ppl.STAGE / "histograms", log_x=True)),
    ))
