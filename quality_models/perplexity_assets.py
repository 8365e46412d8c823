"""The per-language perplexity models the filter scores with (asset): trained on Wikipedia and calibrated on
reference web pages, or CCNet's released models from a folder or URL."""

import time
from typing import Dict, List

import dagster as dg

from assets.resources import CorpusStorage
from corpus import recipe
from quality_models import kenlm_model, store


class PerplexityModelsConfig(dg.Config):
    """``languages`` empty: every Wikipedia language with at least ``min_train_lines`` lines.
    ``max_train_lines`` / ``tokenizer_max_lines``: the KenLM and SentencePiece training texts' bounds (hash-
    priority samples of a language's training lines; raise them on a machine with more memory).
    ``web_reference_sources``: per language, the ingested sources whose pages calibrate the trained model.
    ``ccnet_models``: a folder or http(s) base URL holding CCNet's released ``<lang>.sp.model`` and
    ``<lang>.arpa.bin`` for ``ccnet_languages`` (``ccnet_sha256``: file name -> sha256 to check); when set,
    nothing is trained and the filter may use CCNet's published cut-offs."""

    order: int = recipe.KENLM_ORDER
    vocab_size: int = recipe.KENLM_TOKENIZER_VOCAB
    holdout_fraction: float = recipe.KENLM_HOLDOUT_FRACTION
    min_train_lines: int = recipe.KENLM_MIN_TRAIN_LINES
    reference_max_docs: int = recipe.PERPLEXITY_REFERENCE_MAX_DOCS
    max_train_lines: int = recipe.KENLM_MAX_TRAIN_LINES
    tokenizer_max_lines: int = recipe.KENLM_TOKENIZER_MAX_LINES
    web_reference_sources: Dict[str, List[str]] = {lang: list(s) for lang, s in recipe.PERPLEXITY_WEB_REFERENCE_SOURCES.items()}
    languages: List[str] = []
    lmplz_memory: str = "256M"
    ccnet_models: str = ""
    ccnet_languages: List[str] = list(recipe.CC_KEEP_LANGUAGES)
    ccnet_sha256: Dict[str, str] = {}


def _calibration_counts(m: dict) -> str:
    cal = m.get("calibration") or {}
    return f"{len(cal.get('wikipedia', []))} / {len(cal.get('web', []))}" if cal else "-"


@dg.asset(group_name="quality_models", deps=["wikipedia_documents", "c4_documents"], kinds={"kenlm", "python"})
def perplexity_models(context: dg.AssetExecutionContext, config: PerplexityModelsConfig,
                      corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """SentencePiece + KenLM 5-gram per language (CCNet): trained on Wikipedia, or CCNet's released ones."""
    started = time.monotonic()
    layout = corpus_storage.layout()
    if config.ccnet_models:
        folder, manifest, reused = kenlm_model.fetch_ccnet_models(config.ccnet_models, config.ccnet_languages,
                                                                  layout.models, config.ccnet_sha256)
    else:
        params = kenlm_model.KenlmParams(order=config.order, vocab_size=config.vocab_size,
                                         holdout_fraction=config.holdout_fraction, min_train_lines=config.min_train_lines,
                                         reference_max_docs=config.reference_max_docs,
                                         max_train_lines=config.max_train_lines,
                                         tokenizer_max_lines=config.tokenizer_max_lines,
                                         languages=tuple(sorted(config.languages)), lmplz_memory=config.lmplz_memory)
        web = {lang: [p for source in sources for p in layout.docs_parts("ingest", source)]
               for lang, sources in config.web_reference_sources.items()}
        folder, manifest, reused = kenlm_model.train_models(layout.docs_parts("ingest", "wikipedia"), layout.models,
                                                            layout.work / "perplexity_models", params,
                                                            log=context.log.info, web_reference=web)
    store.set_current(layout.models, kenlm_model.NAME, manifest["version"])
    langs = manifest["languages"]
    if not langs:
        context.log.warning("no language had enough Wikipedia text for a KenLM model: the filter keeps everything")
    rows = "\n".join(f"| {lang} | {m.get('docs', '-')} | {m.get('train_lines', '-')} | {m.get('train_tokens', '-')} | "
                     f"{m.get('vocab_size', '-')} | {m.get('heldout_perplexity', '-')} | {_calibration_counts(m)} | "
                     f"{m.get('tokenizer_seconds', '-')} | {m.get('seconds', '-')} |" for lang, m in langs.items())
    return dg.MaterializeResult(metadata={
        "version": manifest["version"],
        "kind": manifest["kind"],
        "source": manifest.get("source", "trained on wikipedia_documents"),
        "path": dg.MetadataValue.path(str(folder)),
        "reused": reused,
        "languages": dg.MetadataValue.json(sorted(langs)),
        "skipped_languages": dg.MetadataValue.json(manifest.get("skipped_languages", {})),
        "heldout_perplexity": dg.MetadataValue.json({lang: m.get("heldout_perplexity") for lang, m in langs.items()}),
        "models": dg.MetadataValue.md("| lang | docs | train lines | train tokens | vocab | held-out perplexity | "
                                      "calibration docs (wikipedia / web) | tokenizer seconds | seconds |\n"
                                      "|---|---|---|---|---|---|---|---|---|\n" + rows),
        "seconds": dg.MetadataValue.float(round(time.monotonic() - started, 2)),
    }, data_version=dg.DataVersion(manifest["version"]))
