"""LLaMA-1's Wikipedia-reference classifier (fastText), trained by the project (asset)."""

import time
from typing import List

import dagster as dg

from assets.config_base import config_class, dataclass_fields, dataclass_from
from assets.resources import CorpusStorage, DUCKDB_POOL
from corpus import recipe
from quality_models import wikiref
from quality_models.model_assets import published_model, training_metadata

WikirefClassifierConfig = config_class(
    "WikirefClassifierConfig", __name__,
    {**dataclass_fields(wikiref.WikirefParams),
     "cc_index": (List[str], list(recipe.WIKIREF_CC_INDEX)),
     "warc_base": (str, recipe.WIKIREF_CC_WARC_BASE),
     "max_cited_pages": (int, recipe.WIKIREF_MAX_CITED_PAGES)},
    doc="The training settings of ``quality_models.wikiref.WikirefParams``. ``cc_index``: Common Crawl's columnar "
        "URL index (local paths/globs, s3:// or http(s) URLs); empty: only cited pages already in the inputs are "
        "looked for. ``max_cited_pages`` caps the pages fetched from it.")


@dg.asset(group_name="quality_models", deps=["wikipedia_documents", "books_documents", "cc_language_id", "langid_model"],
          kinds={"fasttext", "duckdb", "python"}, pool=DUCKDB_POOL)
def wikiref_classifier(context: dg.AssetExecutionContext, config: WikirefClassifierConfig,
                       corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """fastText P(page is cited by Wikipedia) vs random web pages after LID; curated fallback positives when
    too few cited pages are found, with a calibrated keep rule."""
    started = time.monotonic()
    layout = corpus_storage.layout()
    inputs = wikiref.data_root_inputs(layout, config.cc_index, config.warc_base, config.max_cited_pages)
    folder, manifest, reused = wikiref.train_classifier(inputs, layout.models, dataclass_from(wikiref.WikirefParams, config))
    if manifest["positives_source"] == "fallback_curated":
        context.log.warning(f"only {manifest['cited_pages_used']} Wikipedia-cited pages found (< {config.min_positives}): "
                            f"positives are Wikipedia and Books paragraphs instead; keep rule: {manifest['keep_rule']['rule']}")
    context.log.info(f"held-out: {manifest['heldout_positives']} positive and {manifest['heldout_negatives']} negative "
                     f"examples, AUC {manifest.get('heldout_auc')}, balanced accuracy {manifest.get('heldout_accuracy')}")
    scores = {k: v for k, v in manifest.items() if k.startswith("heldout_")}
    return published_model(layout.models, wikiref.NAME, folder, manifest, reused, {
        "positives_source": manifest["positives_source"],
        "keep_rule": manifest["keep_rule"]["rule"],
        "min_score": dg.MetadataValue.float(manifest["keep_rule"]["min_score"]),
        **{k: v for k, v in manifest.items() if k.startswith("cited_")},
        **training_metadata(manifest, scores, started),
    })
