"""LLaMA-3's model-based quality classifier (fastText, DCLM style), trained by the project (asset). Under a
recipe that runs no quality filter (``llama1``) it trains nothing and says so."""

import time
from typing import List

import dagster as dg

from assets.config_base import ValidatedConfig, config_class, dataclass_fields
from assets.resources import CorpusStorage
from assets.stages import skipped_metadata
from corpus import presets, recipe
from corpus.filters import quality_classifier as quality_filter
from quality_models import quality_classifier, store
from quality_models.wikiref_assets import training_metadata

POSITIVE_STAGE = presets.INGEST  # the curated stage comes after the quality filter in the graph

QualityClassifierModelConfig = config_class(
    "QualityClassifierModelConfig", __name__,
    {**dataclass_fields(quality_classifier.QualityParams),
     "positive_sources": (List[str], list(recipe.QUALITY_CLASSIFIER_POSITIVE_SOURCES))},
    base=ValidatedConfig,
    doc="``positive_sources``: the sources whose ingest parts are the positives (high quality); the rest: "
        "the training settings of ``quality_models.quality_classifier.QualityParams``.")


@dg.asset(group_name="quality_models",
          deps=[*(f"{s}_documents" for s in recipe.SOURCES), *presets.asset_deps(quality_filter.STAGE)],
          kinds={"fasttext", "python"})
def quality_classifier_model(context: dg.AssetExecutionContext, config: QualityClassifierModelConfig,
                             corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """fastText P(high quality): curated sources vs web pages after the CCNet chain (DCLM / LLaMA-3)."""
    started = time.monotonic()
    layout, preset = corpus_storage.layout(), corpus_storage.preset()
    web_sources = preset.sources(quality_filter.STAGE)
    if not web_sources:
        return dg.MaterializeResult(metadata=skipped_metadata(preset))
    unknown = sorted(set(config.positive_sources) - set(recipe.SOURCES))
    if unknown or not config.positive_sources:
        raise dg.Failure(f"positive_sources {config.positive_sources}: give one or more of {', '.join(recipe.SOURCES)}",
                         allow_retries=False)
    params = quality_classifier.QualityParams(
        **{name: getattr(config, name) for name in dataclass_fields(quality_classifier.QualityParams)})
    inputs = quality_classifier.QualityInputs(
        {s: layout.docs_parts(POSITIVE_STAGE, s) for s in config.positive_sources},
        # negatives: each web source's pages as the quality filter reads them (Common Crawl: after the CCNet chain)
        {s: layout.docs_parts(preset.upstream(s, quality_filter.STAGE), s) for s in web_sources})
    folder, manifest, reused = quality_classifier.train_classifier(inputs, layout.models, params)
    store.set_current(layout.models, quality_classifier.NAME, manifest["version"])
    context.log.info(f"held-out documents: AUC {manifest.get('heldout_document_auc')}, balanced accuracy at P=0.5 "
                     f"{manifest.get('heldout_document_accuracy')}")
    scores = {k: v for k, v in manifest.items() if k.startswith("heldout_") and v is not None}
    return dg.MaterializeResult(metadata={
        "version": manifest["version"],
        "path": dg.MetadataValue.path(str(folder)),
        "reused": reused,
        "positive_sources": dg.MetadataValue.json(manifest["positive_sources"]),
        "negative_sources": dg.MetadataValue.json(manifest["negative_sources"]),
        **training_metadata(manifest, scores, started),
    }, data_version=dg.DataVersion(manifest["version"]))
