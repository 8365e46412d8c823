"""Wikipedia-reference quality classifier (LLaMA-1): keep pages by the model's own keep rule (RedPajama's
P(wiki-ref) >= 0.25 for a model of real cited pages, a calibrated threshold for the curated fallback)."""

import json
import time
from pathlib import Path
from typing import Optional

import dagster as dg
import numpy as np

from assets.resources import CorpusStorage
from assets.stages import code_fingerprint, filter_units, run_units, stage_metadata
from corpus import plots
from corpus.filters import wikiref
from corpus.storage import read_table
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
    # every scored document: the kept ones (docs) and the dropped ones (p= in dropped.detail)
    kept = [read_table(p, columns=["lang", "wikiref_score"]) for p in layout.docs_parts(wikiref.STAGE, SOURCE)]
    langs = np.asarray([x for t in kept for x in t.column("lang").to_pylist()], dtype=object)
    scores = np.asarray([x for t in kept for x in t.column("wikiref_score").to_pylist()], dtype=float)
    dropped_scores = []
    for p in layout.parts("dropped", wikiref.STAGE, SOURCE):
        detail = read_table(p, columns=["detail"]).column("detail")
        dropped_scores += [float(d.removeprefix("p=")) for d in detail.to_pylist() if d and d.startswith("p=")]
    values = {f"kept {lang}": scores[langs == lang] for lang in sorted(set(langs.tolist()), key=str)}
    values["all scored (kept + dropped)"] = np.concatenate([scores, np.asarray(dropped_scores, dtype=float)])
    return dg.MaterializeResult(metadata=stage_metadata(
        stats, started,
        model_version=folder.name,
        min_score=dg.MetadataValue.float(min_score),
        keep_rule=rule["rule"] if config.min_score is None else f"P(wiki-ref) >= {min_score:g} (run config)",
        wikiref_score_histogram=dg.MetadataValue.md(plots.histograms_markdown(
            values, {k: (min_score,) for k in values}, "P(wiki-ref)")),
    ))
