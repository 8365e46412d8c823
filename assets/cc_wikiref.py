"""Wikipedia-reference quality classifier (LLaMA-1): keep pages by the model's own keep rule (RedPajama's
P(wiki-ref) >= 0.25 for a model of real cited pages, a calibrated threshold for the curated fallback)."""

import time
from pathlib import Path

import dagster as dg

from assets.config_base import config_class, keyword_fields
from assets.resources import CorpusStorage
from assets.stages import run_units, stage_metadata
from corpus.part_runners import code_fingerprint, filter_units
from corpus.filters import wikiref
from quality_models import store

SOURCE = "commoncrawl"
UPSTREAM = "perplexity"


WikirefConfig = config_class(
    "WikirefConfig", __name__, keyword_fields(wikiref.applied_keep_rule),
    doc="``min_score``: overrides the threshold of the model's keep rule (its manifest's ``keep_rule``).")


@dg.asset(group_name="ccnet", deps=["cc_perplexity", "wikiref_classifier"], kinds={"fasttext", "parquet"})
def cc_wikiref(context: dg.AssetExecutionContext, config: WikirefConfig,
                      corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """Wikipedia-reference quality classifier (LLaMA-1)."""
    started = time.monotonic()
    layout = corpus_storage.layout()
    folder = store.current_dir(layout.models, "wikiref")
    scorer = wikiref.WikirefScorer(Path(folder) / "model.bin")
    min_score, rule = wikiref.applied_keep_rule(folder, **config.model_dump())
    settings = dict(min_score=min_score, model=folder.name)
    units = filter_units(layout, wikiref.STAGE, SOURCE, UPSTREAM, settings,
                         lambda: wikiref.WikirefFilter(scorer, min_score, SOURCE), code_fingerprint(wikiref))
    stats = run_units(context, layout, wikiref.STAGE, SOURCE, units)
    return dg.MaterializeResult(metadata=stage_metadata(
        stats, started, **wikiref.stage_report(stats, min_score),
        model_version=folder.name,
        min_score=dg.MetadataValue.float(min_score),
        keep_rule=rule,
    ))
