"""The per-language perplexity models the filter scores with (asset): trained on Wikipedia and calibrated on
reference web pages, or CCNet's released models from a folder or URL."""

import time
from typing import Dict, List

import dagster as dg

from assets.config_base import config_class, dataclass_fields, dataclass_from, listed
from assets.resources import CorpusStorage
from corpus import recipe
from quality_models import kenlm_model
from quality_models.model_assets import published_model

PerplexityModelsConfig = config_class(
    "PerplexityModelsConfig", __name__,
    {**listed(dataclass_fields(kenlm_model.KenlmParams)),
     "web_reference_sources": (Dict[str, List[str]],
                               {lang: list(s) for lang, s in recipe.PERPLEXITY_WEB_REFERENCE_SOURCES.items()}),
     "ccnet_models": (str, ""),
     "ccnet_languages": (List[str], list(recipe.CC_KEEP_LANGUAGES)),
     "ccnet_sha256": (Dict[str, str], {})},
    doc="The training settings of ``quality_models.kenlm_model.KenlmParams`` (``languages`` empty: every "
        "Wikipedia language with at least ``min_train_lines`` lines). ``web_reference_sources``: per language, "
        "the ingested sources whose pages calibrate the trained model. ``ccnet_models``: a folder or http(s) "
        "base URL holding CCNet's released ``<lang>.sp.model`` and ``<lang>.arpa.bin`` for ``ccnet_languages`` "
        "(``ccnet_sha256``: file name -> sha256 to check); when set, nothing is trained and the filter may use "
        "CCNet's published cut-offs.")


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
        folder, manifest, reused = kenlm_model.train_data_root_models(
            layout, dataclass_from(kenlm_model.KenlmParams, config), config.web_reference_sources, log=context.log.info)
    langs = manifest["languages"]
    if not langs:
        context.log.warning("no language had enough Wikipedia text for a KenLM model: the filter keeps everything")
    return published_model(layout.models, kenlm_model.NAME, folder, manifest, reused, {
        "kind": manifest["kind"],
        "source": manifest.get("source", "trained on wikipedia_documents"),
        "languages": dg.MetadataValue.json(sorted(langs)),
        "skipped_languages": dg.MetadataValue.json(manifest.get("skipped_languages", {})),
        "heldout_perplexity": dg.MetadataValue.json({lang: m.get("heldout_perplexity") for lang, m in langs.items()}),
        "models": dg.MetadataValue.md(kenlm_model.models_markdown(langs)),
        "seconds": dg.MetadataValue.float(round(time.monotonic() - started, 2)),
    })
