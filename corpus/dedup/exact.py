"""Exact document dedup across all sources: a 128-bit hash of normalised text; the first copy by
(source priority, id) is kept. Grouping runs in DuckDB over a hash table on disk, so memory does not
grow with the corpus."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import duckdb
import pyarrow as pa
import xxhash

from corpus.text import normalize_for_hash

HASH_SCHEMA = pa.schema([("id", pa.string()), ("source", pa.string()), ("rank", pa.int32()), ("hash", pa.binary(16))])


def hash_batch(batch: pa.RecordBatch, rank: int) -> pa.Table:
    texts = batch.column("text").to_pylist()
    hashes = [xxhash.xxh3_128_digest(normalize_for_hash(t).encode("utf-8", "surrogatepass")) for t in texts]
    n = batch.num_rows
    return pa.Table.from_arrays(
        [batch.column("id"), batch.column("source"), pa.array([rank] * n, pa.int32()), pa.array(hashes, pa.binary(16))],
        schema=HASH_SCHEMA,
    )


def find_duplicates(hash_files: Iterable[Path], memory_limit: str = "2GB") -> pa.Table:
    """Rows (id, source, kept_id) for every document that is a copy of an earlier-ranked one."""
    files = [str(p) for p in hash_files]
    empty = pa.table({"id": pa.array([], pa.string()), "source": pa.array([], pa.string()), "kept_id": pa.array([], pa.string())})
    if not files:
        return empty
    con = duckdb.connect()
    con.execute(f"SET memory_limit='{memory_limit}'")
    table = con.sql(
        """
        SELECT id, source, kept_id FROM (
            SELECT id, source, first_value(id) OVER (PARTITION BY hash ORDER BY rank, id) AS kept_id
            FROM read_parquet(?)
        ) WHERE id <> kept_id ORDER BY id
        """,
        params=[files],
    ).to_arrow_table()
    con.close()
    return table.cast(empty.schema)
