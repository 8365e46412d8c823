"""LLaMA-1's Wikipedia-reference classifier (fastText), trained by the project (asset)."""

import dataclasses
import time
from typing import List

import dagster as dg

from assets.resources import CorpusStorage, DUCKDB_POOL
from corpus import recipe, snapshots
from corpus.filters import langid as langid_filter
from quality_models import language_identifier, store, wikiref
from quality_models.langid_assets import current_refiners

WEB_STAGE = langid_filter.STAGE  # negatives: Common Crawl pages after line dedup + LID


class WikirefClassifierConfig(dg.Config):
    """``cc_index``: Common Crawl's columnar URL index (local paths/globs, s3:// or http(s) URLs); empty: only
    cited pages already in the inputs are looked for. ``max_cited_pages`` caps the pages fetched from it."""

    min_positives: int = recipe.WIKIREF_MIN_POSITIVES
    min_positive_chars: int = recipe.WIKIREF_MIN_POSITIVE_CHARS
    min_example_chars: int = recipe.WIKIREF_MIN_EXAMPLE_CHARS
    holdout_fraction: float = recipe.WIKIREF_HOLDOUT_FRACTION
    lr: float = recipe.WIKIREF_FASTTEXT_LR
    dim: int = recipe.WIKIREF_FASTTEXT_DIM
    epoch: int = recipe.WIKIREF_FASTTEXT_EPOCH
    word_ngrams: int = recipe.WIKIREF_FASTTEXT_WORD_NGRAMS
    min_score: float = recipe.WIKIREF_MIN_SCORE
    fallback_keep_fraction: float = recipe.WIKIREF_FALLBACK_KEEP_FRACTION
    max_examples_per_class: int = recipe.WIKIREF_MAX_EXAMPLES_PER_CLASS
    max_chunks_per_document: int = recipe.WIKIREF_MAX_CHUNKS_PER_DOCUMENT
    max_calibration_documents: int = recipe.WIKIREF_MAX_CALIBRATION_DOCUMENTS
    max_cited_urls: int = recipe.WIKIREF_MAX_CITED_URLS
    seed: int = 0
    cc_index: List[str] = list(recipe.WIKIREF_CC_INDEX)
    warc_base: str = recipe.WIKIREF_CC_WARC_BASE
    max_cited_pages: int = recipe.WIKIREF_MAX_CITED_PAGES


def negative_parts(web_parts: list) -> list:
    """The negatives' parts: the first snapshot's (``corpus.snapshots.snapshot_order``), not every snapshot's,
    so adding a newer snapshot keeps the classifier, and so every earlier part it filtered, as it was."""
    return next(iter(snapshots.by_snapshot(web_parts).values()), [])


def params_of(config: WikirefClassifierConfig) -> wikiref.WikirefParams:
    """The training parameters: every field of ``WikirefParams`` from the config (a missing one fails here)."""
    return wikiref.WikirefParams(**{f.name: getattr(config, f.name) for f in dataclasses.fields(wikiref.WikirefParams)})


def training_metadata(manifest: dict, scores: dict, started: float) -> dict:
    """What a fastText classifier asset reports of its training (wikiref and the quality classifier)."""
    return {
        "train_examples": manifest["train_examples"],
        "examples": dg.MetadataValue.json(manifest["examples"]),
        "documents": dg.MetadataValue.json(manifest["documents"]),
        **{k: (dg.MetadataValue.float(v) if isinstance(v, float) else v) for k, v in scores.items() if v is not None},
        "train_seconds": dg.MetadataValue.float(manifest["train_seconds"]),
        "seconds": dg.MetadataValue.float(round(time.monotonic() - started, 2)),
    }


@dg.asset(group_name="quality_models", deps=["wikipedia_documents", "books_documents", "cc_language_id", "langid_model"],
          kinds={"fasttext", "duckdb", "python"}, pool=DUCKDB_POOL)
def wikiref_classifier(context: dg.AssetExecutionContext, config: WikirefClassifierConfig,
                       corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """fastText P(page is cited by Wikipedia) vs random web pages after LID; curated fallback positives when
    too few cited pages are found, with a calibrated keep rule."""
    started = time.monotonic()
    layout = corpus_storage.layout()
    cited_pages, lid = None, None
    if config.cc_index:
        cited_pages = wikiref.index_cited_pages(config.cc_index, config.warc_base, layout.work / "wikiref" / "cc_index",
                                                config.max_cited_pages)
        identifier = language_identifier.LanguageIdentifier(language_identifier.default_model_path(), current_refiners(layout))
        lid = langid_filter.LangIdFilter(identifier, "commoncrawl", recipe.CC_KEEP_LANGUAGES, recipe.LANGID_MIN_SCORE)
    inputs = wikiref.WikirefInputs(layout.docs_parts("ingest", "wikipedia"), layout.docs_parts("ingest", "books"),
                                   negative_parts(layout.docs_parts(WEB_STAGE, "commoncrawl")), cited_pages, lid)
    folder, manifest, reused = wikiref.train_classifier(inputs, layout.models, params_of(config))
    store.set_current(layout.models, wikiref.NAME, manifest["version"])
    if manifest["positives_source"] == "fallback_curated":
        context.log.warning(f"only {manifest['cited_pages_used']} Wikipedia-cited pages found (< {config.min_positives}): "
                            f"positives are Wikipedia and Books paragraphs instead; keep rule: {manifest['keep_rule']['rule']}")
    context.log.info(f"held-out: {manifest['heldout_positives']} positive and {manifest['heldout_negatives']} negative "
                     f"examples, AUC {manifest.get('heldout_auc')}, balanced accuracy {manifest.get('heldout_accuracy')}")
    scores = {k: v for k, v in manifest.items() if k.startswith("heldout_")}
    counts = {k: v for k, v in manifest.items() if k.startswith("cited_")}
    return dg.MaterializeResult(metadata={
        "version": manifest["version"],
        "path": dg.MetadataValue.path(str(folder)),
        "reused": reused,
        "positives_source": manifest["positives_source"],
        "keep_rule": manifest["keep_rule"]["rule"],
        "min_score": dg.MetadataValue.float(manifest["keep_rule"]["min_score"]),
        **counts,
        **training_metadata(manifest, scores, started),
    }, data_version=dg.DataVersion(manifest["version"]))
