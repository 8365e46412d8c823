"""Wikipedia-reference quality classifier (LLaMA-1): keep pages by the model's own keep rule (RedPajama's
P(wiki-ref) >= 0.25 for a model of real cited pages, a calibrated threshold for the curated fallback)."""

import json
import time
from pathlib import Path
from typing import Optional

import dagster as dg

from assets.resources import CorpusStorage
from assets.stages import code_fingerprint, filter_units, run_units, stage_metadata
from corpus.filters import wikiref
from quality_models import store

SOURCE = "commoncrawl"
UPSTREAM = "perplexity"


class WikirefConfig(dg.Config):
    """``min_score``: overrides the threshold of the model's keep rule (its manifest's ``keep_rule``)."""

    min_score: Optional[float] = None


@dg.asset(group_name="ccnet", deps=["cc_perplexity", "wikiref_classifier"], kinds={"fasttext", "parquet"})
def cc_wikiref(context: dg.AssetExecutionContext, config: WikirefConfig,
                      corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """Wikipedia-reference quality classifier (LLaMA-1)."""
    started = time.monotonic()
    layout = corpus_storage.layout()
    folder = store.current_dir(layout.models, "wikiref")
    scorer = wikiref.WikirefScorer(Path(folder) / "model.bin")
    rule = json.loads((Path(folder) / "manifest.json").read_text())["keep_rule"]
    min_score = rule["min_score"] if config.min_score is None else config.min_score
    settings = dict(min_score=min_score, model=folder.name)
    units = filter_units(layout, wikiref.STAGE, SOURCE, UPSTREAM, settings,
                         lambda: wikiref.WikirefFilter(scorer, min_score, SOURCE), code_fingerprint(wikiref))
    stats = run_units(context, layout, wikiref.STAGE, SOURCE, units)
    return dg.MaterializeResult(metadata=stage_metadata(
        stats, started, **wikiref.stage_report(stats, min_score),
        model_version=folder.name,
        min_score=dg.MetadataValue.float(min_score),
        keep_rule=rule["rule"] if config.min_score is None else f"P(wiki-ref) >= {min_score:g} (run config)",
    ))
