"""Semantic dedup (SemDeDup) of the web sources after near dedup: embeddings, k-means, removals, the stage."""

import time

import dagster as dg
import numpy as np
import pyarrow.parquet as pq

from assets.config_base import config_class, dataclass_fields
from assets.dedup import apply_removals, merge_totals, near_dedup
from assets.resources import CorpusStorage
from assets.stages import clear_inactive_sources, drop_reasons_plot, skipped_metadata, stage_metadata
from corpus.part_runners import code_fingerprint, upstream_fingerprint
from corpus import plots, presets, recipe
from corpus.dedup import semantic
from corpus.storage import Layout, iter_batches, part_is_current, write_table_atomic
from corpus.fingerprints import fingerprint, FINGERPRINT_KEY
from quality_models import semantic_embeddings, store
from quality_models.semantic_embeddings_assets import semantic_embedding_model

STAGE = "semantic_dedup"
REASON = "semantic_duplicate"  # drops get this reason, the kept id as the detail

SemanticDedupConfig = config_class(
    "SemanticDedupConfig", __name__, dataclass_fields(semantic.SemDedupParams),
    doc="SemDeDup settings (eps: a pair at cosine >= 1 - eps is a duplicate; k-means clusters, seed).")


def semantic_dedup_dir(layout: Layout):
    """Embeddings per part, the cluster group files and ``removals.parquet``."""
    return layout.work / STAGE


def deduplicated_sources(preset: presets.Preset) -> tuple[str, ...]:
    """The sources semantically deduplicated: the recipe's web sources (the stage passes the others through)."""
    return tuple(s for s in preset.web_sources if preset.is_active(s, STAGE))


def _embedded_parts(layout: Layout, preset: presets.Preset, sources, log) -> list[semantic.EmbeddedPart]:
    """Every upstream part's embeddings, computed unless current (part fingerprint + model version + code)."""
    folder = store.current_dir(layout.models, semantic_embeddings.NAME)
    embedder = None
    code = code_fingerprint(semantic, semantic_embeddings)
    parts, computed = [], 0
    for rank, source in enumerate(recipe.DEDUP_SOURCE_PRIORITY):
        if source not in sources:
            continue
        for path in layout.docs_parts(preset.upstream(source, STAGE), source):
            out = semantic_dedup_dir(layout) / "embeddings" / source / path.name
            fp = fingerprint(upstream_fingerprint(path), folder.name, code)
            if not part_is_current(out, fp):
                embedder = embedder or semantic_embeddings.DocumentEmbedder(folder)
                batches = iter_batches([path], columns=["id", "source", "text"], batch_size=semantic.EMBED_BATCH_ROWS)
                write_table_atomic(out, semantic.part_embeddings(batches, embedder.embed, embedder.dim),
                                   {FINGERPRINT_KEY: fp.encode()})
                computed += 1
            parts.append(semantic.EmbeddedPart(source, rank, out))
    wanted = {p.path for p in parts}
    for stale in (semantic_dedup_dir(layout) / "embeddings").rglob("*.parquet"):  # parts gone upstream
        if stale not in wanted:
            stale.unlink()
    log.info(f"embeddings: {computed} parts computed, {len(parts) - computed} reused")
    return parts


def _similarity_metadata(result: semantic.SemDedupResult, eps: float) -> dict:
    """The within-cluster nearest-neighbour cosine (histogram of a sample, counts per eps), to choose eps."""
    md = {}
    if result.nn_sample:
        png = plots.histogram_plot(result.nn_sample, title="Within-cluster nearest-neighbour cosine",
                                   xlabel="cosine", cutoffs={f"1 - eps ({eps})": 1 - eps})
        md["similarity_histogram"] = dg.MetadataValue.md(plots.as_markdown_image(png, "nearest-neighbour cosine"))
        q = np.quantile(result.nn_sample, [0.5, 0.9, 0.99, 1.0])
        md["nn_cosine_quantiles"] = dg.MetadataValue.md(
            "| p50 | p90 | p99 | max |\n|---|---|---|---|\n| " + " | ".join(f"{v:.4f}" for v in q) + " |")
    rows = "\n".join(f"| {e} | {1 - e:.4f} | {n} |" for e, n in sorted(result.near_counts.items()))
    md["docs_with_a_neighbour_within_eps"] = dg.MetadataValue.md(
        "| eps | cosine >= | documents with a within-cluster neighbour at it |\n|---|---|---|\n" + rows)
    return md


@dg.asset(group_name="dedup", deps=[near_dedup, semantic_embedding_model], kinds={"faiss", "parquet"})
def semantic_duplicates(context: dg.AssetExecutionContext, config: SemanticDedupConfig,
                        corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """SemDeDup over the near-deduplicated documents of the recipe's web sources: k-means, then within each
    cluster the components of pairs at cosine >= 1 - eps, one document kept per component."""
    started = time.monotonic()
    layout = corpus_storage.layout()
    preset = corpus_storage.preset()
    sources = deduplicated_sources(preset)
    if not sources:
        return dg.MaterializeResult(metadata=skipped_metadata(preset))
    work = semantic_dedup_dir(layout)
    parts = _embedded_parts(layout, preset, sources, context.log)
    embedded = time.monotonic()
    params = semantic.SemDedupParams(**{f: getattr(config, f) for f in dataclass_fields(semantic.SemDedupParams)})
    result = semantic.find_duplicates(parts, params, work / "groups")
    write_table_atomic(work / "removals.parquet", result.removals)
    elapsed = time.monotonic() - started
    return dg.MaterializeResult(metadata={
        "semantic_duplicates": result.removals.num_rows, "docs": result.docs, "clusters": result.clusters,
        "cluster_groups": result.groups, "largest_cluster": result.cluster_sizes[0] if result.cluster_sizes else 0,
        "eps": dg.MetadataValue.float(params.eps), "sources": dg.MetadataValue.json(list(sources)),
        "recipe": preset.name, "embedding_seconds": dg.MetadataValue.float(round(embedded - started, 3)),
        "seconds": dg.MetadataValue.float(round(elapsed, 3)),
        "docs_per_s": dg.MetadataValue.float(round(result.docs / elapsed, 1) if elapsed > 0 else 0.0),
        **_similarity_metadata(result, params.eps)})


@dg.asset(name=presets.STAGE_ASSETS[STAGE], group_name="dedup", deps=[*presets.asset_deps(STAGE), semantic_duplicates],
          kinds={"python", "parquet"})
def semantic_dedup(context: dg.AssetExecutionContext, corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """The curated corpus under llama3: every source's near-deduplicated documents, the web sources' minus
    their semantic duplicates (reason ``semantic_duplicate``, the kept id as the detail)."""
    started = time.monotonic()
    layout = corpus_storage.layout()
    preset = corpus_storage.preset()
    sources = clear_inactive_sources(layout, preset, STAGE)
    if not sources:
        return dg.MaterializeResult(metadata=skipped_metadata(preset))
    removals = pq.read_table(semantic_dedup_dir(layout) / "removals.parquet")
    totals = apply_removals(context, layout, STAGE, {s: preset.upstream(s, STAGE) for s in sources}, removals, REASON)
    total = merge_totals(totals)
    per_source = {f"docs_out_{s}": st.docs_out for s, st in totals.items()}
    return dg.MaterializeResult(metadata=stage_metadata(total, started, recipe=preset.name, **per_source,
                                                        **drop_reasons_plot(total, f"{STAGE}: drop reasons")))
