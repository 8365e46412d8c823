"""KenLM perplexity per language: head/middle/tail buckets (CCNet), tail dropped.

Two passes: every part is scored first (``work/perplexity/scores/``) and the scores pooled per language
in a bounded sample; the per-language cut-offs are chosen (``corpus.filters.perplexity.choose_cutoffs``)
and persisted as the snapshot's cut-off table (``models/perplexity_cutoffs/<snapshot>/<key>.json``, reused
by later runs; each snapshot's cut-offs come from its own documents only, so a new snapshot leaves the
earlier ones' tables and parts as they were), then each part is written with ``perplexity`` and ``bucket`` filled. A document in a
language with no model (or no cut-offs) is kept with ``bucket`` null and counted as ``no_lm_for_lang``
(``no_model: drop`` drops it with that reason instead).
"""

import time
from pathlib import Path
from typing import Dict, List, Tuple

import dagster as dg

from assets.resources import CorpusStorage
from assets.stages import Unit, code_fingerprint, run_units, stage_metadata, upstream_fingerprint
from corpus import plots, presets, recipe, snapshots
from corpus.filters import perplexity as ppl
from corpus.part_runners import filter_part
from corpus.storage import iter_batches
from corpus.fingerprints import fingerprint
from quality_models import kenlm_model, store

SOURCE = "commoncrawl"


class PerplexityConfig(dg.Config):
    """``cutoffs``: "auto" (CCNet's published values with CCNet's released models; otherwise the snapshot's
    ``percentiles`` with at least ``min_docs_for_percentiles`` documents of the language, else the trained
    model's reference distribution), "percentile" (never published values) or "ccnet" (published values,
    refused for any model but CCNet's). ``snapshot``: one cut-off table of that name for every part
    (default: one table per snapshot, ``corpus.snapshots.part_snapshot``). ``no_model``: "keep" or "drop"."""

    cutoffs: str = "auto"
    percentiles: List[float] = list(recipe.PERPLEXITY_PERCENTILES)
    keep_buckets: List[str] = list(recipe.PERPLEXITY_KEEP_BUCKETS)
    no_model: str = "keep"
    min_docs_for_percentiles: int = recipe.PERPLEXITY_MIN_DOCS_FOR_PERCENTILES
    sample_docs: int = recipe.PERPLEXITY_SAMPLE_DOCS
    snapshot: str = ""


@dg.asset(group_name="ccnet", deps=[*presets.asset_deps(ppl.STAGE), "perplexity_models"], kinds={"kenlm", "parquet"})
def cc_perplexity(context: dg.AssetExecutionContext, config: PerplexityConfig,
                  corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """KenLM perplexity per language: head/middle/tail buckets (of the documents of the recipe's previous stage)."""
    started = time.monotonic()
    if config.no_model not in ("keep", "drop"):
        raise ValueError(f"no_model must be 'keep' or 'drop', not {config.no_model!r}")
    layout = corpus_storage.layout()
    scorer = ppl.PerplexityScorer(store.current_dir(layout.models, kenlm_model.NAME))
    code = code_fingerprint(ppl)
    score_dir = layout.work / ppl.STAGE / "scores" / SOURCE
    upstream = layout.docs_parts(corpus_storage.preset().upstream(SOURCE, ppl.STAGE), SOURCE)
    scores: Dict[Path, Path] = {}
    for path in upstream:  # pass 1
        fp = fingerprint(upstream_fingerprint(path), scorer.version, code)
        scores[path] = ppl.score_part(path, score_dir / path.name, scorer, fp)
    for stale in set(score_dir.glob("*.parquet")) - set(scores.values()) if score_dir.exists() else ():
        stale.unlink()
    table_settings = dict(cutoffs=config.cutoffs, percentiles=list(config.percentiles),
                          min_docs=config.min_docs_for_percentiles, sample_docs=config.sample_docs)

    def unit(path: Path, cutoffs: Dict[str, Tuple[float, float]]) -> Unit:
        def build(writer, progress) -> None:
            process = ppl.BucketFilter(ppl.read_scores(scores[path]), cutoffs, config.keep_buckets,
                                        config.no_model == "drop", SOURCE)
            filter_part(writer, iter_batches([path]), process, progress)

        settings = dict(cutoffs=cutoffs, keep=sorted(config.keep_buckets), no_model=config.no_model, model=scorer.version)
        return Unit(path.name.removesuffix(".parquet"), fingerprint(upstream_fingerprint(path), settings, code), build)

    # the cut-offs of each snapshot from its own documents only: a new snapshot leaves the others' tables
    per_snapshot = {config.snapshot: upstream} if config.snapshot else snapshots.by_snapshot(upstream)
    tables: Dict[str, ppl.CutoffTable] = {}
    histograms: List[str] = []
    units: Dict[Path, Unit] = {}
    for snapshot, members in per_snapshot.items():
        sample = ppl.ScoreSample(config.sample_docs)
        for path in members:
            sample.add(ppl.read_scores(scores[path]))
        chosen = ppl.choose_cutoffs(sample, scorer, config.cutoffs, config.percentiles, config.min_docs_for_percentiles,
                                    recipe.CCNET_PERPLEXITY_CUTOFFS, recipe.PERPLEXITY_WIKI_REFERENCE_PERCENTILES)
        tables[snapshot] = ppl.CutoffTable.resolve(layout.models / "perplexity_cutoffs", snapshot, scorer.version,
                                                   table_settings, chosen)
        units.update((path, unit(path, tables[snapshot].pairs)) for path in members)
        histograms.append(f"**{snapshot}**\n\n" + plots.histograms_markdown(
            {lang: sample.values(lang) for lang in sample.languages}, tables[snapshot].pairs, "perplexity", log_x=True))
    stats = run_units(context, layout, ppl.STAGE, SOURCE, [units[p] for p in upstream])  # pass 2
    buckets = {}
    no_model = 0
    for snapshot, members in per_snapshot.items():
        buckets[snapshot], unbucketed = ppl.bucket_counts([scores[p] for p in members], tables[snapshot].pairs)
        no_model += unbucketed
    rows = "\n".join(f"| {snapshot} | {lang} | {c.origin} | {c.docs} | {c.lo:.1f} | {c.hi:.1f} | "
                     f"{buckets[snapshot][lang]['head']} | {buckets[snapshot][lang]['middle']} | {buckets[snapshot][lang]['tail']} |"
                     for snapshot, table in tables.items() for lang, c in table.languages.items())
    return dg.MaterializeResult(metadata=stage_metadata(
        stats, started,
        model_version=scorer.version,
        model_kind=scorer.kind,
        cutoffs_mode=config.cutoffs,
        snapshots=dg.MetadataValue.json(list(tables)),
        cutoff_tables=dg.MetadataValue.json({snapshot: str(t.path) for snapshot, t in tables.items()}),
        cutoffs_reused=dg.MetadataValue.json({snapshot: t.reused for snapshot, t in tables.items()}),
        cutoff_origin=dg.MetadataValue.json({snapshot: {lang: {"origin": c.origin, "docs": c.docs, "cutoffs": [c.lo, c.hi]}
                                                        for lang, c in t.languages.items()} for snapshot, t in tables.items()}),
        no_lm_for_lang=int(no_model),
        buckets=dg.MetadataValue.md("| snapshot | lang | cut-offs from | from docs | head/middle | middle/tail | head | middle | tail |\n"
                                    "|---|---|---|---|---|---|---|---|---|\n" + rows),
        bucket_counts=dg.MetadataValue.json(buckets),
        perplexity_histogram=dg.MetadataValue.md("\n\n".join(histograms)),
    ))
