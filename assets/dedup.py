"""Corpus-wide dedup: exact (content hash), then near-duplicate removal, giving the curated documents."""

import time

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from assets.resources import CorpusStorage
from assets.stages import code_fingerprint, filter_units, run_units, stage_metadata, upstream_fingerprint
from corpus import dedup as dedup_module
from corpus import recipe
from corpus.dedup import exact, removal_filter
from corpus.storage import Layout, PartStats, fingerprint, iter_batches, part_is_current, write_table_atomic

# The last stage each source passes before the corpus-wide dedup.
PRE_DEDUP_STAGE = {"commoncrawl": "wikiref"}
PRE_DEDUP_ASSETS = ["cc_quality_filter"] + [f"{s}_documents" for s in recipe.SOURCES if s != "commoncrawl"]
EXACT_STAGE = "exact_dedup"
NEAR_STAGE = "near_dedup"  # the curated documents: the catalog's `documents` view reads this stage


def near_dup_removals_path(layout: Layout):
    """Contract with the near-duplicate detector: Parquet (id, source, kept_id) of documents to drop."""
    return layout.work / "near_dedup" / "removals.parquet"


def _removals_fingerprint(removals: pa.Table, source: str) -> str:
    mine = removals.filter(pc.equal(removals.column("source"), source))
    h = xxhash.xxh3_128()
    for col in ("id", "kept_id"):
        for chunk in mine.column(col).chunks:
            for buf in chunk.buffers():
                if buf is not None:
                    h.update(buf)
    return h.hexdigest()


def _apply_removals(context, layout: Layout, stage: str, upstream: dict[str, str], removals: pa.Table, reason: str):
    totals = {}
    code = code_fingerprint(dedup_module)
    for source in recipe.SOURCES:
        units = filter_units(layout, stage, source, upstream[source], _removals_fingerprint(removals, source),
                             lambda source=source: removal_filter(source, stage, removals, reason), code)
        totals[source] = run_units(context, layout, stage, source, units)
    return totals


def _merge(totals: dict[str, PartStats]) -> PartStats:
    merged = PartStats(source="*", stage="*")
    for stats in totals.values():
        merged.merge(stats)
    return merged


class ExactDedupConfig(dg.Config):
    duckdb_memory_limit: str = "2GB"


@dg.asset(group_name="dedup", deps=PRE_DEDUP_ASSETS, kinds={"duckdb", "parquet"})
def exact_dedup(context: dg.AssetExecutionContext, config: ExactDedupConfig, corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """Exact document dedup across all sources (hash of normalised text); first by source priority, then id."""
    started = time.monotonic()
    layout = corpus_storage.layout()
    upstream = {s: PRE_DEDUP_STAGE.get(s, "ingest") for s in recipe.SOURCES}
    hash_dir = layout.work / EXACT_STAGE / "hashes"
    hash_files = []
    for rank, source in enumerate(recipe.DEDUP_SOURCE_PRIORITY):
        for part in layout.docs_parts(upstream[source], source):
            out = hash_dir / source / part.name
            fp = fingerprint(upstream_fingerprint(part), code_fingerprint(exact), rank)
            if not part_is_current(out, fp):
                tables = [exact.hash_batch(b, rank) for b in iter_batches([part], columns=["id", "source", "text"])]
                table = pa.concat_tables(tables) if tables else exact.HASH_SCHEMA.empty_table()
                write_table_atomic(out, table, {b"corpus.fingerprint": fp.encode()})
            hash_files.append(out)
    removals = exact.find_duplicates(hash_files, config.duckdb_memory_limit)
    totals = _apply_removals(context, layout, EXACT_STAGE, upstream, removals, "exact_dup_of")
    return dg.MaterializeResult(metadata=stage_metadata(_merge(totals), started, duplicates=removals.num_rows))


@dg.asset(group_name="dedup", deps=[exact_dedup], kinds={"python", "parquet"})
def near_duplicates(context: dg.AssetExecutionContext, corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """MinHash LSH near-duplicate detection across all sources: the list of documents to remove."""
    layout = corpus_storage.layout()
    empty = pa.table({"id": pa.array([], pa.string()), "source": pa.array([], pa.string()),
                      "kept_id": pa.array([], pa.string())})
    write_table_atomic(near_dup_removals_path(layout), empty)
    return dg.MaterializeResult(metadata={"near_duplicates": 0})


@dg.asset(group_name="dedup", deps=[near_duplicates], kinds={"python", "parquet"})
def curated_documents(context: dg.AssetExecutionContext, corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """The curated corpus: exact-deduplicated documents minus near-duplicates, per source."""
    started = time.monotonic()
    layout = corpus_storage.layout()
    removals = pq.read_table(near_dup_removals_path(layout))
    upstream = {s: EXACT_STAGE for s in recipe.SOURCES}
    totals = _apply_removals(context, layout, NEAR_STAGE, upstream, removals, "near_dup_of")
    per_source = {f"docs_{s}": st.docs_out for s, st in totals.items()}
    return dg.MaterializeResult(metadata=stage_metadata(_merge(totals), started, **per_source))
