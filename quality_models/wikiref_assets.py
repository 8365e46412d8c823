"""LLaMA-1's Wikipedia-reference classifier (fastText), trained by the project (asset)."""

import time
from typing import List

import dagster as dg

from assets.resources import CorpusStorage
from corpus import recipe
from quality_models import kenlm_model, wikiref


class WikirefClassifierConfig(dg.Config):
    """``negative_sources``: whose ingest documents are the "random web pages" (see recipe)."""

    min_positives: int = recipe.WIKIREF_MIN_POSITIVES
    min_positive_chars: int = recipe.WIKIREF_MIN_POSITIVE_CHARS
    min_example_chars: int = recipe.WIKIREF_MIN_EXAMPLE_CHARS
    holdout_fraction: float = recipe.WIKIREF_HOLDOUT_FRACTION
    negative_sources: List[str] = list(recipe.WIKIREF_NEGATIVE_SOURCES)
    lr: float = recipe.WIKIREF_FASTTEXT_LR
    dim: int = recipe.WIKIREF_FASTTEXT_DIM
    epoch: int = recipe.WIKIREF_FASTTEXT_EPOCH
    word_ngrams: int = recipe.WIKIREF_FASTTEXT_WORD_NGRAMS
    seed: int = 0


@dg.asset(group_name="quality_models",
          deps=["wikipedia_documents", "books_documents", "commoncrawl_documents", "c4_documents"],
          kinds={"fasttext", "python"})
def wikiref_classifier(context: dg.AssetExecutionContext, config: WikirefClassifierConfig,
                       corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """fastText P(page is cited by Wikipedia) vs random web pages; curated fallback positives when too few match."""
    started = time.monotonic()
    layout = corpus_storage.layout()
    params = wikiref.WikirefParams(**{**config.model_dump(), "negative_sources": tuple(config.negative_sources)})
    parts = {s: layout.docs_parts("ingest", s) for s in {"wikipedia", "books", "commoncrawl", *config.negative_sources}}
    folder, manifest, reused = wikiref.train_classifier(parts["wikipedia"], parts["books"], parts["commoncrawl"],
                                                        parts, layout.models, params)
    kenlm_model.set_current(layout.models, wikiref.NAME, manifest["version"])
    if manifest["positives_source"] == "fallback_curated":
        context.log.warning(f"only {manifest['cited_pages_matched']} Wikipedia-cited pages found in CommonCrawl "
                            f"(< {config.min_positives}): positives are Wikipedia and Books paragraphs instead")
    scores = {k: v for k, v in manifest.items() if k.startswith("heldout_")}
    return dg.MaterializeResult(metadata={
        "version": manifest["version"],
        "path": dg.MetadataValue.path(str(folder)),
        "reused": reused,
        "positives_source": manifest["positives_source"],
        "cited_urls": manifest["cited_urls"],
        "cited_pages_matched": manifest["cited_pages_matched"],
        "train_examples": manifest["train_examples"],
        "examples": dg.MetadataValue.json(manifest["examples"]),
        **{k: (dg.MetadataValue.float(v) if isinstance(v, float) else v) for k, v in scores.items() if v is not None},
        "train_seconds": dg.MetadataValue.float(manifest["train_seconds"]),
        "seconds": dg.MetadataValue.float(round(time.monotonic() - started, 2)),
    })
