"""LLaMA-3's model-based quality filter of the web sources (``corpus.filters.quality_classifier``), the stage
the ``llama3`` recipe runs after the wikiref classifier (``corpus.presets``); under ``llama1`` it writes nothing.

Per source, every document of its previous stage is scored to choose the cut-off (the top ``keep_fraction``
of that snapshot, DCLM's rank rule), then each part is filtered at that cut-off, reusing the scores of the
sample (all of them, up to ``max_sample_docs`` documents) instead of scoring twice."""

import time

import dagster as dg

from assets.resources import CorpusStorage
from assets.stages import clear_inactive_sources, drop_reasons_plot, run_units, skipped_metadata, stage_metadata
from corpus.part_runners import code_fingerprint, filter_units
from assets.web_heuristics import rules_config, rules_from
from corpus import presets
from corpus import part_runners
from corpus.filters import base, wikiref
from corpus.filters import quality_classifier as qf
from corpus.plots import as_markdown_image
from corpus.storage import PartStats
from quality_models import quality_classifier, store

QualityFilterConfig = rules_config("QualityFilterConfig", qf.QualityFilterSettings)


def cutoff_metadata(report: dict) -> dict:
    """A ``Cutoff.report`` as Dagster metadata (the histogram as an inline image)."""
    return {k: dg.MetadataValue.md(as_markdown_image(v)) if isinstance(v, bytes) else
            dg.MetadataValue.float(v) if isinstance(v, float) else dg.MetadataValue.json(v) for k, v in report.items()}


@dg.asset(name=presets.STAGE_ASSETS[qf.STAGE], group_name="web",
          deps=[*presets.asset_deps(qf.STAGE), "quality_classifier_model"], kinds={"fasttext", "parquet"})
def web_quality_classifier(context: dg.AssetExecutionContext, config: QualityFilterConfig,
                           corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """Model-based quality filter (DCLM / LLaMA-3): keep the top fraction of each web source by P(high quality)."""
    started = time.monotonic()
    layout, preset = corpus_storage.layout(), corpus_storage.preset()
    sources = clear_inactive_sources(layout, preset, qf.STAGE)
    if not sources:
        return dg.MaterializeResult(metadata=skipped_metadata(preset))
    settings = rules_from(qf.QualityFilterSettings, config)
    folder = store.current_dir(layout.models, quality_classifier.NAME)
    scorer = quality_classifier.scorer_of(folder)
    code = code_fingerprint(qf, wikiref, base, part_runners)
    total, extra = PartStats(source="*", stage=qf.STAGE), {}
    for source in sources:
        upstream = preset.upstream(source, qf.STAGE)
        cutoff = qf.source_cutoff(scorer, layout.docs_parts(upstream, source), settings)
        units = [] if cutoff.threshold is None else filter_units(
            layout, qf.STAGE, source, upstream, cutoff.part_settings(folder.name),
            lambda source=source, cutoff=cutoff: cutoff.filter(source, scorer), code)
        stats = run_units(context, layout, qf.STAGE, source, units)
        extra.update(cutoff_metadata(cutoff.report(source)), **{f"docs_out_{source}": stats.docs_out})
        total.merge(stats)
    return dg.MaterializeResult(metadata=stage_metadata(
        total, started, recipe=preset.name, model_version=folder.name, keep_fraction=settings.keep_fraction,
        **extra, **drop_reasons_plot(total, f"{qf.STAGE}: drop reasons")))
