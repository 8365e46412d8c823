"""LLaMA-3's model-based quality classifier (fastText, DCLM style), trained by the project (asset). Under a
recipe that runs no quality filter (``llama1``) it trains nothing and says so."""

import time
from typing import List

import dagster as dg
import numpy as np

from assets.config_base import ValidatedConfig, config_class, dataclass_fields, dataclass_from
from assets.resources import CorpusStorage
from assets.stages import skipped_metadata
from corpus import presets, recipe
from corpus.plots import as_markdown_image, binned_histograms_plot
from corpus.filters import quality_classifier as quality_filter
from quality_models import quality_classifier
from quality_models.model_assets import published_model, training_metadata

QualityClassifierModelConfig = config_class(
    "QualityClassifierModelConfig", __name__,
    {**dataclass_fields(quality_classifier.QualityParams),
     "positive_sources": (List[str], list(recipe.QUALITY_CLASSIFIER_POSITIVE_SOURCES)),
     "negative_stage": (str, recipe.QUALITY_CLASSIFIER_NEGATIVE_STAGE)},
    base=ValidatedConfig,
    doc="``positive_sources``: the sources whose ingest parts are the positives (high quality); ``negative_stage``: "
        "the stage whose web pages are the negatives (``quality_models.quality_classifier.negative_stage``); the "
        "rest: the training settings of ``quality_models.quality_classifier.QualityParams``.")


def score_metadata(manifest: dict) -> dict:
    """The held-out scores: AUC and accuracy figures, and the documents' score histogram per class as a plot."""
    histogram = manifest["heldout_document_score_histogram"]
    edges = np.linspace(0.0, 1.0, quality_classifier.SCORE_BINS + 1)
    plot = binned_histograms_plot(histogram, edges, f"held-out documents: P(high quality), AUC "
                                  f"{manifest.get('heldout_document_auc')}", "P(high quality)")
    return {**{k: v for k, v in manifest.items() if k.startswith("heldout_") and isinstance(v, (int, float))},
            "heldout_document_score_histogram": dg.MetadataValue.md(as_markdown_image(plot))}


@dg.asset(group_name="quality_models",
          deps=[*(f"{s}_documents" for s in recipe.SOURCES), *presets.asset_deps(quality_filter.STAGE)],
          kinds={"fasttext", "python"})
def quality_classifier_model(context: dg.AssetExecutionContext, config: QualityClassifierModelConfig,
                             corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """fastText P(high quality): curated sources vs random web pages after CCNet's LID (DCLM / LLaMA-3)."""
    started = time.monotonic()
    layout, preset = corpus_storage.layout(), corpus_storage.preset()
    if not preset.sources(quality_filter.STAGE):
        return dg.MaterializeResult(metadata=skipped_metadata(preset))
    try:
        inputs = quality_classifier.model_inputs(layout, preset, config.positive_sources, config.negative_stage)
    except ValueError as exc:
        raise dg.Failure(str(exc), allow_retries=False) from exc
    params = dataclass_from(quality_classifier.QualityParams, config)
    folder, manifest, reused = quality_classifier.train_classifier(inputs, layout.models, params)
    context.log.info(f"held-out documents: AUC {manifest.get('heldout_document_auc')}, balanced accuracy at P=0.5 "
                     f"{manifest.get('heldout_document_accuracy')}")
    return published_model(layout.models, quality_classifier.NAME, folder, manifest, reused, {
        "positive_sources": dg.MetadataValue.json(manifest["positive_sources"]),
        "negative_stages": dg.MetadataValue.json(manifest["negative_stages"]),
        **training_metadata(manifest, score_metadata(manifest), started),
    })
