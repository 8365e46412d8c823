"""Corpus-wide dedup: exact (content hash), then near-duplicate removal, giving the curated documents."""

import time
from pathlib import Path

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from assets.config_base import config_class, dataclass_fields, dataclass_from, keyword_fields
from assets.resources import CorpusStorage, DUCKDB_POOL
from assets.stages import run_units, stage_metadata, step_summary
from corpus.part_runners import code_fingerprint, filter_units, upstream_fingerprint
from corpus import dedup as dedup_module
from corpus import presets, recipe, snapshots
from corpus.dedup import RemovalFilter, clusters, exact, lsh, minhash
from corpus.executors import executor_from_env
from corpus.storage import Layout, Location, PartStats, part_is_current, read_table, write_table_atomic
from corpus.fingerprints import fingerprint

EXACT_STAGE = "exact_dedup"
NEAR_STAGE = "near_dedup"  # the llama1 recipe's curated stage (``assets.catalog.curated_documents`` names it)
# The partitioned scale-out path of near-dedup lives in its own group: a job mixing partitions definitions
# cannot run, so `build_corpus` leaves this group out and runs the unpartitioned `near_duplicates`.
SCALE_OUT_GROUP = "near_dedup_scale_out"
BAND_PARTITIONS = dg.StaticPartitionsDefinition(lsh.partition_names(recipe.NEAR_DEDUP_BAND_PARTITIONS))


def near_dup_removals_path(layout: Layout):
    """Contract with the near-duplicate detector: Parquet (id, source, kept_id) of documents to drop."""
    return layout.work / "near_dedup" / "removals.parquet"


def _removals_fingerprint(removals: pa.Table, part: Location) -> str:
    """A hash of the removals that touch this part's ids only, so a new part elsewhere (a new
    snapshot) leaves the other parts' fingerprints, and everything computed from them, unchanged."""
    ids = read_table(part, columns=["id"]).column("id")
    mine = removals.filter(pc.is_in(removals.column("id"), value_set=ids.combine_chunks()))
    mine = mine.sort_by("id")
    h = xxhash.xxh3_128()
    for row_id, kept in zip(mine.column("id").to_pylist(), mine.column("kept_id").to_pylist()):
        h.update(f"{row_id}\t{kept}\n".encode())
    return h.hexdigest()


def apply_removals(context, layout: Layout, stage: str, upstream: dict[str, str], removals: pa.Table, reason: str):
    """Run ``stage`` for each source of ``upstream`` (source -> its upstream stage): the removals' ids dropped
    with ``reason``, the kept id as the detail."""
    totals = {}
    code = code_fingerprint(dedup_module)
    for source in upstream:
        units = filter_units(layout, stage, source, upstream[source], lambda part: _removals_fingerprint(removals, part),
                             lambda source=source: RemovalFilter(source, stage, removals, reason), code)
        totals[source] = run_units(context, layout, stage, source, units)
    return totals


def merge_totals(totals: dict[str, PartStats]) -> PartStats:
    merged = PartStats(source="*", stage="*")
    for stats in totals.values():
        merged.merge(stats)
    return merged


def _hash_jobs(layout: Layout, upstream: dict[str, str]) -> tuple[list[Path], list[exact.HashJob]]:
    """Every part's hash file (source priority, then part order), and the jobs of those not current."""
    hash_dir = layout.work / EXACT_STAGE / "hashes"
    hash_files, todo = [], []
    for rank, source in enumerate(recipe.DEDUP_SOURCE_PRIORITY):
        for part in layout.docs_parts(upstream[source], source):
            out = hash_dir / source / part.name
            snapshot = snapshots.part_snapshot(part.name) if source == "commoncrawl" else snapshots.LOCAL
            fp = fingerprint(upstream_fingerprint(part), code_fingerprint(exact), rank, snapshot)
            if not part_is_current(out, fp):
                todo.append(exact.HashJob(part, out, rank, snapshot, fp))
            hash_files.append(out)
    return hash_files, todo


ExactDedupConfig = config_class("ExactDedupConfig", __name__,
                                keyword_fields(exact.find_duplicates, skip=("executor", "log", "summary")))


@dg.asset(group_name="dedup", deps=presets.asset_deps(EXACT_STAGE), kinds={"duckdb", "parquet"}, pool=DUCKDB_POOL)
def exact_dedup(context: dg.AssetExecutionContext, config: ExactDedupConfig, corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """Exact document dedup across all sources (hash of normalised text); the first copy by source
    priority, then snapshot (older first), then id is kept; grouped per hash-prefix bucket. Each source is
    read at its last stage before the corpus-wide dedups under the run's recipe."""
    started = time.monotonic()
    layout = corpus_storage.layout()
    preset = corpus_storage.preset()
    upstream = {s: preset.pre_dedup_stage(s) for s in recipe.SOURCES}
    executor, summary = executor_from_env(), step_summary(context)
    hash_files, todo = _hash_jobs(layout, upstream)
    list(executor.map(exact.write_hash_part, todo, context.log, "exact_dedup hashes", summary))
    removals = exact.find_duplicates(hash_files, config.hash_buckets, config.duckdb_memory_limit, executor,
                                     context.log, summary)
    totals = apply_removals(context, layout, EXACT_STAGE, upstream, removals, "exact_duplicate")
    return dg.MaterializeResult(metadata=stage_metadata(merge_totals(totals), started, duplicates=removals.num_rows,
                                                        hash_buckets=config.hash_buckets))


def near_dedup_dir(layout: Layout):
    """Signatures, band table, per-partition edges and the removals (corpus.dedup.clusters)."""
    return layout.work / "near_dedup"


MINHASH_SIGNATURE_FIELDS = ("ngram", "num_perm")  # what minhash_signatures computes; the LSH sets the rest
MinHashConfig = config_class("MinHashConfig", __name__, dataclass_fields(minhash.MinHashParams, MINHASH_SIGNATURE_FIELDS))
LshConfig = config_class("LshConfig", __name__, dataclass_fields(clusters.BandTableSettings),
                         doc=clusters.BandTableSettings.__doc__)


class VerifyConfig(dg.Config):
    """Which sources' pairs are verified, and per-source thresholds (others: the dedup threshold). Written out:
    it configures ``clusters.make_verifier``, whose dict field can be no dataclass or keyword default."""

    verify_sources: list[str] = list(recipe.NEAR_DEDUP_VERIFY_SOURCES)
    source_thresholds: dict[str, float] = {"books": recipe.BOOKS_NEAR_DUP_JACCARD}


@dg.asset(group_name="dedup", deps=[exact_dedup], kinds={"numpy", "parquet"})
def minhash_signatures(context: dg.AssetExecutionContext, config: MinHashConfig,
                       corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """MinHash signatures per exact_dedup part, reused while the part is current (incremental)."""
    started = time.monotonic()
    layout = corpus_storage.layout()
    folder = near_dedup_dir(layout) / "signatures"
    parts = [(source, rank, path, upstream_fingerprint(path))
             for rank, source in enumerate(recipe.DEDUP_SOURCE_PRIORITY)
             for path in layout.docs_parts(EXACT_STAGE, source)]
    params = dataclass_from(minhash.MinHashParams, config)
    summary = step_summary(context)
    index, computed = clusters.update_signatures(layout, parts, params, folder, executor_from_env(), context.log, summary)
    clusters.write_index(folder, index, params)
    context.log.info(f"signatures: {len(computed)} parts computed, {len(parts) - len(computed)} reused; {summary.line()}")
    return dg.MaterializeResult(metadata={"docs": index.size, "parts": len(parts), "parts_computed": len(computed),
                                          "seconds": round(time.monotonic() - started, 3), **summary.metadata()})


@dg.asset(group_name="dedup", deps=[minhash_signatures], kinds={"numpy", "parquet"})
def lsh_band_table(context: dg.AssetExecutionContext, config: LshConfig,
                   corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """The LSH band table, one Parquet file per band-hash prefix (bands x rows chosen for the threshold)."""
    layout = corpus_storage.layout()
    index, sig_params = clusters.read_index(layout, near_dedup_dir(layout) / "signatures")
    settings = dataclass_from(clusters.BandTableSettings, config)
    params = settings.params(sig_params)
    manifest = clusters.write_band_table(index, params, near_dedup_dir(layout) / "bands", settings.num_partitions,
                                         settings.scope)
    rows = manifest["rows"]
    return dg.MaterializeResult(metadata={"bands": params.bands, "rows_per_band": params.rows,
                                          "candidate_threshold": params.candidate_threshold, "scope": config.scope,
                                          "partitions": len(rows), "largest_partition_rows": max(rows.values())})


def _edges(context: dg.AssetExecutionContext, layout: Layout, manifest: dict, config: VerifyConfig, names):
    """The edge files of the band partitions ``names`` (one executor task each), the verifier, how many were computed."""
    work = near_dedup_dir(layout)
    verifier = clusters.make_verifier(layout, manifest, config.verify_sources, config.source_thresholds)
    summary = step_summary(context)
    done = clusters.all_partition_edges(work / "bands", work / "edges", names, manifest, verifier, executor_from_env(),
                                        context.log, summary)
    computed = sum(fresh for _, fresh in done)
    context.log.info(f"band partitions: {computed} processed, {len(names) - computed} reused; {summary.line()}")
    return [path for path, _ in done], verifier, computed


VERIFIED_PAIRS_SHOWN = 50


def _verification_metadata(index, pair_files) -> dict:
    """Counts of the distinct pairs measured (in the partitions and the candidate groups) and the first of them."""
    if not pair_files:
        return {}
    counts, shown = clusters.pair_summary(pair_files, VERIFIED_PAIRS_SHOWN)
    ids = index.ids(np.array([x for r in zip(shown.column("a").to_pylist(), shown.column("b").to_pylist()) for x in r], np.int64))
    rows = "\n".join(f"| {ids[2 * i]} | {ids[2 * i + 1]} | {j:.4f} | {'yes' if d else 'no'} |" for i, (j, d) in
                     enumerate(zip(shown.column("jaccard").to_pylist(), shown.column("duplicate").to_pylist())))
    return {**counts, "verified_pairs": dg.MetadataValue.md(
        f"first {shown.num_rows} of {counts['pairs_verified']}\n\n| a | b | exact Jaccard | duplicate |\n|---|---|---|---|\n" + rows)}


@dg.asset(group_name=SCALE_OUT_GROUP, deps=[lsh_band_table], kinds={"numpy", "parquet"},
          partitions_def=BAND_PARTITIONS)
def lsh_band_partitions(context: dg.AssetExecutionContext, config: VerifyConfig,
                        corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """Scale-out path: one band partition's component edges (one Dagster partition, any machine);
    ``near_duplicates`` then reuses every partition computed here with the same settings."""
    layout = corpus_storage.layout()
    manifest = clusters.read_manifest(near_dedup_dir(layout) / "bands")
    if manifest["partitions"] != BAND_PARTITIONS.get_partition_keys():
        raise dg.Failure(f"the band table has {manifest['num_partitions']} partitions; this asset is defined over "
                         f"{recipe.NEAR_DEDUP_BAND_PARTITIONS}: materialize lsh_band_table with the default count")
    files, _, _ = _edges(context, layout, manifest, config, [context.partition_key])
    return dg.MaterializeResult(metadata={"edges": pq.ParquetFile(files[0]).metadata.num_rows,
                                          "band_rows": manifest["rows"][context.partition_key],
                                          **step_summary(context).metadata()})


@dg.asset(group_name="dedup", kinds={"numpy", "parquet"},
          deps=[lsh_band_table, dg.AssetDep(lsh_band_partitions, partition_mapping=dg.AllPartitionMapping())])
def near_duplicates(context: dg.AssetExecutionContext, config: VerifyConfig,
                    corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """MinHash LSH near-duplicates across all sources: every band partition (reused if the scale-out
    asset computed it), their deferred candidates verified once each, union-find over all verified edges,
    the first by (source priority, id) kept."""
    started = time.monotonic()
    layout = corpus_storage.layout()
    work = near_dedup_dir(layout)
    manifest = clusters.read_manifest(work / "bands")
    clusters.clear_stale_edges(work / "edges", manifest["partitions"])
    files, verifier, computed = _edges(context, layout, manifest, config, manifest["partitions"])
    pair_files = []
    if verifier is not None:
        groups = clusters.verify_candidates(work / "edges", manifest["partitions"], manifest, verifier, executor_from_env(),
                                            context.log, step_summary(context))
        pair_files = [clusters.pairs_path(f.parent, f.stem) for f in files] + [g.measured for g in groups]
        files = files + [g.edges for g in groups]
    index = clusters.DocIndex.from_json(layout, manifest["index"])
    removals = clusters.merge_removals(files, index)
    write_table_atomic(near_dup_removals_path(layout), removals)
    return dg.MaterializeResult(metadata={
        "near_duplicates": removals.num_rows, "docs": index.size, "partitions_processed": computed,
        "partitions_reused": len(manifest["partitions"]) - computed, "seconds": round(time.monotonic() - started, 3),
        **_verification_metadata(index, pair_files), **step_summary(context).metadata()})


@dg.asset(group_name="dedup", deps=[near_duplicates], kinds={"python", "parquet"})
def near_dedup(context: dg.AssetExecutionContext, corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """Exact-deduplicated documents minus near-duplicates, per source (the llama1 recipe's curated corpus)."""
    started = time.monotonic()
    layout = corpus_storage.layout()
    removals = pq.read_table(near_dup_removals_path(layout))
    upstream = {s: EXACT_STAGE for s in recipe.SOURCES}
    totals = apply_removals(context, layout, NEAR_STAGE, upstream, removals, "near_duplicate")
    per_source = {f"docs_{s}": st.docs_out for s, st in totals.items()}
    return dg.MaterializeResult(metadata=stage_metadata(merge_totals(totals), started, **per_source))
