"""The per-language KenLM models the perplexity filter scores with, trained on Wikipedia (asset)."""

import time
from typing import List

import dagster as dg

from assets.resources import CorpusStorage
from corpus import recipe
from quality_models import kenlm_model


class PerplexityModelsConfig(dg.Config):
    """``languages`` empty: every Wikipedia language with at least ``min_train_lines`` lines."""

    order: int = recipe.KENLM_ORDER
    vocab_size: int = recipe.KENLM_TOKENIZER_VOCAB
    holdout_fraction: float = recipe.KENLM_HOLDOUT_FRACTION
    min_train_lines: int = recipe.KENLM_MIN_TRAIN_LINES
    languages: List[str] = []
    lmplz_memory: str = "256M"


@dg.asset(group_name="quality_models", deps=["wikipedia_documents"], kinds={"kenlm", "python"})
def perplexity_models(context: dg.AssetExecutionContext, config: PerplexityModelsConfig,
                      corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """A tokenizer + KenLM 5-gram per language on Wikipedia text (CCNet), versioned by data + parameters."""
    started = time.monotonic()
    layout = corpus_storage.layout()
    params = kenlm_model.KenlmParams(order=config.order, vocab_size=config.vocab_size,
                                     holdout_fraction=config.holdout_fraction, min_train_lines=config.min_train_lines,
                                     languages=tuple(sorted(config.languages)), lmplz_memory=config.lmplz_memory)
    folder, manifest, reused = kenlm_model.train_models(layout.docs_parts("ingest", "wikipedia"), layout.models,
                                                        layout.work / "perplexity_models", params, log=context.log.info)
    kenlm_model.set_current(layout.models, kenlm_model.NAME, manifest["version"])
    if not manifest["languages"]:
        context.log.warning("no language had enough Wikipedia text for a KenLM model: the filter keeps everything")
    langs = manifest["languages"]
    rows = "\n".join(f"| {lang} | {m['docs']} | {m['train_lines']} | {m['train_tokens']} | {m['vocab_size']} | "
                     f"{m['heldout_lines']} | {m['heldout_perplexity']} | {m['seconds']} |" for lang, m in langs.items())
    return dg.MaterializeResult(metadata={
        "version": manifest["version"],
        "path": dg.MetadataValue.path(str(folder)),
        "reused": reused,
        "languages": dg.MetadataValue.json(sorted(langs)),
        "skipped_languages": dg.MetadataValue.json(manifest["skipped_languages"]),
        "train_lines": sum(m["train_lines"] for m in langs.values()),
        "train_tokens": sum(m["train_tokens"] for m in langs.values()),
        "heldout_perplexity": dg.MetadataValue.json({lang: m["heldout_perplexity"] for lang, m in langs.items()}),
        "models": dg.MetadataValue.md("| lang | docs | train lines | train tokens | vocab | held-out lines | "
                                      "held-out perplexity | seconds |\n|---|---|---|---|---|---|---|---|\n" + rows),
        "seconds": dg.MetadataValue.float(round(time.monotonic() - started, 2)),
    })
