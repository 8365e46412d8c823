"""Exact document dedup across all sources: a 128-bit hash of normalised text; the first copy by
(source priority, snapshot order, id) is kept, so a newer Common Crawl snapshot loses its copies of
earlier snapshots' pages and never takes one away from them.

Partitioned by hash prefix: each part's hash file is sorted by hash and carries the hash's 16-bit
``prefix``; ``bucket_duplicates`` groups one prefix range over every hash file in DuckDB (the other row
groups are skipped by their statistics), on its own, and ``merge_buckets`` joins the buckets' removals in
id order whatever order they finished in. Memory does not grow with the corpus: one bucket is grouped
at a time, on disk if it must. Each part's hash file (``write_hash_part``) and each bucket is one task of
an ``Executor.map`` (in this process, or a Ray task on any node: they read and write the shared data root)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Iterable, Sequence

import duckdb
import numpy as np
import pyarrow as pa
import xxhash

from corpus import recipe
from corpus.executors import Executor, ExecutionSummary, InProcessExecutor, WORKER_LOG
from corpus.fingerprints import FINGERPRINT_KEY
from corpus.snapshots import LOCAL
from corpus.storage import Location, iter_batches, write_table_atomic
from corpus.text import normalize_for_hash

HASH_SCHEMA = pa.schema([("id", pa.string()), ("source", pa.string()), ("rank", pa.int32()), ("snapshot", pa.string()),
                         ("prefix", pa.uint16()), ("hash", pa.binary(16))])
REMOVALS_SCHEMA = pa.schema([("id", pa.string()), ("source", pa.string()), ("kept_id", pa.string())])
PREFIXES = 1 << 16


def hash_batch(batch: pa.RecordBatch, rank: int, snapshot: str = LOCAL) -> pa.Table:
    texts = batch.column("text").to_pylist()
    hashes = [xxhash.xxh3_128_digest(normalize_for_hash(t).encode("utf-8", "surrogatepass")) for t in texts]
    prefix = np.frombuffer(b"".join(h[:2] for h in hashes), dtype=">u2").astype(np.uint16)
    n = batch.num_rows
    return pa.Table.from_arrays(
        [batch.column("id"), batch.column("source"), pa.array([rank] * n, pa.int32()), pa.array([snapshot] * n, pa.string()),
         pa.array(prefix, pa.uint16()), pa.array(hashes, pa.binary(16))],
        schema=HASH_SCHEMA,
    )


def hash_part(batches: Iterable[pa.RecordBatch], rank: int, snapshot: str = LOCAL) -> pa.Table:
    """A part's hash file: its documents' hashes sorted by hash (a prefix range is a few row groups)."""
    tables = [hash_batch(b, rank, snapshot) for b in batches]
    table = pa.concat_tables(tables) if tables else HASH_SCHEMA.empty_table()
    return table.sort_by([("hash", "ascending"), ("id", "ascending")])


@dataclass(frozen=True)
class HashJob:
    """One part's hash file to write (paths and settings only: a task any worker can run)."""

    part: Location
    out: Path
    rank: int
    snapshot: str
    fingerprint: str


def write_hash_part(job: HashJob) -> Path:
    """``hash_part`` of the job's part, written atomically with its fingerprint."""
    table = hash_part(iter_batches([job.part], columns=["id", "source", "text"]), job.rank, job.snapshot)
    write_table_atomic(job.out, table, {FINGERPRINT_KEY: job.fingerprint.encode()})
    return job.out


def bucket_range(bucket: int, num_buckets: int) -> tuple[int, int]:
    """The hash prefixes [lo, hi) of a bucket: the 16-bit prefix space cut into ``num_buckets`` ranges."""
    if not 0 <= bucket < num_buckets <= PREFIXES:
        raise ValueError(f"bucket {bucket} is not in 0..{num_buckets - 1} (at most {PREFIXES} buckets)")
    return bucket * PREFIXES // num_buckets, (bucket + 1) * PREFIXES // num_buckets


def bucket_duplicates(hash_files: Sequence[Path], bucket: int, num_buckets: int, memory_limit: str = "2GB") -> pa.Table:
    """Rows (id, source, kept_id), sorted by id, for every document of one hash bucket that is a copy of
    an earlier one: earlier by source priority (rank), then snapshot (``corpus.snapshots.snapshot_order``),
    then id."""
    lo, hi = bucket_range(bucket, num_buckets)
    if not hash_files:
        return REMOVALS_SCHEMA.empty_table()
    con = duckdb.connect()
    con.execute(f"SET memory_limit='{memory_limit}'")
    table = con.sql(
        f"""
        SELECT id, source, kept_id FROM (
            SELECT id, source, first_value(id) OVER (
                PARTITION BY hash ORDER BY rank, snapshot <> '{LOCAL}', snapshot, id) AS kept_id
            FROM read_parquet(?) WHERE prefix >= {lo} AND prefix < {hi}
        ) WHERE id <> kept_id ORDER BY id
        """,
        params=[[str(p) for p in hash_files]],
    ).to_arrow_table()
    con.close()
    return table.cast(REMOVALS_SCHEMA)


def merge_buckets(buckets: Sequence[pa.Table]) -> pa.Table:
    """The buckets' removals as one table sorted by id (ids are unique, so the order is total)."""
    return pa.concat_tables([REMOVALS_SCHEMA.empty_table(), *buckets]).sort_by("id")


def find_duplicates(hash_files: Sequence[Path], hash_buckets: int = recipe.EXACT_DEDUP_HASH_BUCKETS,
                    duckdb_memory_limit: str = "2GB", executor: Executor | None = None, log=WORKER_LOG,
                    summary: ExecutionSummary | None = None) -> pa.Table:
    """Every bucket as one task of ``executor`` (default: one after the other in this process), merged
    in id order: the same table whichever worker grouped which bucket. ``exact_dedup``'s run config is
    built from these keywords."""
    bucket = partial(bucket_duplicates, list(hash_files), num_buckets=hash_buckets, memory_limit=duckdb_memory_limit)
    executor = executor or InProcessExecutor()
    return merge_buckets(list(executor.map(bucket, list(range(hash_buckets)), log, "exact_dedup buckets", summary)))
