"""The document-embedding model of semantic dedup (fastText word vectors trained on the corpus; asset)."""

import time

import dagster as dg

from assets.config_base import config_class, dataclass_fields, dataclass_from
from assets.resources import CorpusStorage
from assets.stages import skipped_metadata
from corpus import recipe
from quality_models import semantic_embeddings
from quality_models.model_assets import published_model

STAGE = "semantic_dedup"  # the model embeds what this stage reads: each source's previous active stage

SemanticEmbeddingConfig = config_class(
    "SemanticEmbeddingConfig", __name__,
    {**dataclass_fields(semantic_embeddings.EmbeddingParams),
     "extra_sources": (list[str], list(recipe.SEMDEDUP_EMBEDDING_EXTRA_SOURCES))},
    doc="fastText unsupervised settings, and the sources it is trained on besides the deduplicated (web) ones.")


@dg.asset(group_name="quality_models", deps=["near_dedup"], kinds={"fasttext", "python"})
def semantic_embedding_model(context: dg.AssetExecutionContext, config: SemanticEmbeddingConfig,
                             corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """fastText skipgram vectors of the curated documents; a document embeds as their SIF-weighted, centred mean."""
    started = time.monotonic()
    layout = corpus_storage.layout()
    preset = corpus_storage.preset()
    web = tuple(s for s in preset.web_sources if preset.is_active(s, STAGE))
    if not web:
        return dg.MaterializeResult(metadata=skipped_metadata(preset))
    sources = [*web, *(s for s in config.extra_sources if s not in web and preset.is_active(s, STAGE))]
    parts = [p for s in sources for p in layout.docs_parts(preset.upstream(s, STAGE), s)]
    params = dataclass_from(semantic_embeddings.EmbeddingParams, config)
    folder, manifest, reused = semantic_embeddings.train_embedding_model(parts, layout.models, params)
    context.log.info(f"embedding model {manifest['version']} ({'reused' if reused else 'trained'}) on "
                     f"{manifest['train_documents']} documents")
    return published_model(layout.models, semantic_embeddings.NAME, folder, manifest, reused, {
        "sources": dg.MetadataValue.json(sources), "train_documents": manifest["train_documents"],
        "train_share": dg.MetadataValue.float(manifest["train_share"]),
        "train_seconds": dg.MetadataValue.float(manifest["train_seconds"]),
        "seconds": dg.MetadataValue.float(round(time.monotonic() - started, 2))})
