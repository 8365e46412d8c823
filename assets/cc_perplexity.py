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

import dagster as dg

from assets.config_base import config_class, keyword_fields, listed
from assets.resources import CorpusStorage
from assets.stages import run_units, stage_metadata, step_summary
from corpus import presets
from corpus.filters import perplexity as ppl
from quality_models import kenlm_model, store

SOURCE = ppl.SOURCE


PerplexityConfig = config_class(
    "PerplexityConfig", __name__, listed(keyword_fields(ppl.PerplexityStage.plan, skip=("summary",))),
    doc="""The keyword arguments of ``PerplexityStage.plan`` (defaults: corpus/recipe.py). ``cutoffs``: "auto"
    (CCNet's published values with CCNet's released models; otherwise the snapshot's ``percentiles`` with at least
    ``min_docs_for_percentiles`` documents of the language, else the trained model's reference distribution),
    "percentile" (never published values) or "ccnet" (published values, refused for any model but CCNet's).
    ``snapshot``: one cut-off table of that name for every part (default: one table per snapshot,
    ``corpus.snapshots.part_snapshot``). ``no_model``: "keep" or "drop".""")


@dg.asset(group_name="ccnet", deps=[*presets.asset_deps(ppl.STAGE), "perplexity_models"], kinds={"kenlm", "parquet"})
def cc_perplexity(context: dg.AssetExecutionContext, config: PerplexityConfig,
                  corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """KenLM perplexity per language: head/middle/tail buckets (of the documents of the recipe's previous stage)."""
    started = time.monotonic()
    layout = corpus_storage.layout()
    scorer = ppl.PerplexityScorer(store.current_dir(layout.models, kenlm_model.NAME))
    upstream = layout.docs_parts(corpus_storage.preset().upstream(SOURCE, ppl.STAGE), SOURCE)
    stage = ppl.PerplexityStage.plan(layout.models, layout.work / ppl.STAGE / "scores" / SOURCE, upstream, scorer,
                                     context.log, step_summary(context), **config.model_dump())
    stats = run_units(context, layout, ppl.STAGE, SOURCE, stage.units)  # pass 2
    return dg.MaterializeResult(metadata=stage_metadata(stats, started, **stage.report(stats)))
