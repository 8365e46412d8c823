"""CCNet line-level dedup: a line seen in two or more documents of a shard group is removed from all
of them (the first copy too), a line repeated inside a document keeps its first occurrence only, and a
document left with no line is dropped (``line_dedup_empty``).

Two passes, so memory never holds the group's lines:

1. ``hash_batch`` turns each document batch into one row per line: ``doc`` (row in the part),
   ``hash`` (uint64), ``first`` (first occurrence of that hash inside its document). The asset writes
   these per part under ``work/line_dedup/``.
2. ``duplicate_hashes`` counts, in DuckDB over the group's hash files, the documents each hash occurs
   in (``first`` rows only) and returns the sorted uint64 array of hashes with count >= 2;
   ``LineDedupFilter`` then rewrites each part's text from its hash file, keeping a line when it is the
   first in its document, not blank, and not in that array (a binary search, numpy).

Normalisation (CCNet ``normalize_for_dedup``, in its order): lowercase, every Unicode digit -> 0, then
remove control characters 0-31 and 127-159 and CCNet's fixed set of Unicode punctuation. The digit step
comes before the removal as in CCNet, so the fullwidth ``１`` (also a key of that punctuation set) becomes
0 and ``１０ years`` is a duplicate of ``10 years``. One deliberate change of order: CCNet strips before
removing, we strip last, so ``« title »`` and ``title`` agree.
Lines that normalise to nothing (blank, or made only of removed characters) are removed: CCNet removes
them too, as the most duplicated line of all. Splitting, normalisation and the list rebuild run in Arrow
compute; only the hash is a Python call per line.

Hash: the first 8 bytes of SHA-1 of the UTF-8 normalised line, read as a little-endian uint64 (as
CCNet's ``compute_hashes``). 0 marks a blank line (a real SHA-1 prefix of 0 has probability 2^-64).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable, Sequence

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpus.stage import drops_table

STAGE = "line_dedup"
EMPTY_REASON = "line_dedup_empty"
HASH_SCHEMA = pa.schema([("doc", pa.int32()), ("hash", pa.uint64()), ("first", pa.bool_())])
BLANK = 0

# CCNet text_normalizer.UNICODE_PUNCT keys (RECIPE.md), removed from lines before hashing.
UNICODE_PUNCT = "，。、„”“«»１」「《》´∶：？！（）；–—．～’…━〈〉【】％►"
CONTROL_CHARS = "".join(map(chr, [*range(0, 32), *range(127, 160)]))
_REMOVE_RE = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in UNICODE_PUNCT + CONTROL_CHARS) + "]"
_NEWLINE = "\n"


def split_lines(texts: pa.Array | pa.ChunkedArray) -> pa.ListArray:
    """Each text as a list of its lines (split on ``\\n``; an ``\\r`` is stripped by normalisation)."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    return pc.split_pattern(texts, _NEWLINE)


def normalize_lines(lines: pa.Array) -> pa.Array:
    """CCNet's dedup normalisation of every line, vectorized (see the module docstring)."""
    out = pc.utf8_lower(lines)
    out = pc.replace_substring_regex(out, r"\p{Nd}", "0")
    out = pc.replace_substring_regex(out, _REMOVE_RE, "")
    return pc.utf8_trim_whitespace(out)


def normalize_line(line: str) -> str:
    return normalize_lines(pa.array([line], pa.large_string()))[0].as_py()


def hash_lines(normalized: pa.Array) -> np.ndarray:
    """uint64 hashes of normalised lines: SHA-1 prefix, little-endian; ``BLANK`` for empty lines."""
    digests = b"".join(hashlib.sha1(s.encode("utf-8", "surrogatepass")).digest()[:8] if s else bytes(8)
                       for s in normalized.to_pylist())
    return np.frombuffer(digests, dtype="<u8").astype(np.uint64, copy=False)


def first_in_group(groups: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """True where (group, hash) occurs for the first time, in array order."""
    n = len(hashes)
    if n == 0:
        return np.zeros(0, bool)
    order = np.lexsort((np.arange(n), hashes, groups))
    g, h = groups[order], hashes[order]
    new = np.ones(n, bool)
    new[1:] = (g[1:] != g[:-1]) | (h[1:] != h[:-1])
    first = np.empty(n, bool)
    first[order] = new
    return first


def hash_batch(batch: pa.RecordBatch | pa.Table, row_offset: int = 0) -> pa.Table:
    """Pass 1: one row per line of each document (``doc`` = row in the part, from ``row_offset``)."""
    lines = split_lines(batch.column("text"))
    counts = pc.list_value_length(lines).to_numpy(zero_copy_only=False).astype(np.int64)
    docs = np.repeat(np.arange(row_offset, row_offset + batch.num_rows, dtype=np.int32), counts)
    hashes = hash_lines(normalize_lines(pc.list_flatten(lines)))
    first = first_in_group(docs, hashes)
    return pa.Table.from_arrays([pa.array(docs), pa.array(hashes), pa.array(first)], schema=HASH_SCHEMA)


def hash_part(batches: Iterable[pa.RecordBatch]) -> pa.Table:
    tables, offset = [], 0
    for batch in batches:
        tables.append(hash_batch(batch, offset))
        offset += batch.num_rows
    return pa.concat_tables(tables) if tables else HASH_SCHEMA.empty_table()


def _connect(memory_limit: str, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET memory_limit='{memory_limit}'")
    if threads:
        con.execute(f"SET threads={int(threads)}")
    return con


def duplicate_hashes(hash_files: Sequence[Path], memory_limit: str = "2GB", threads: int | None = None) -> np.ndarray:
    """Sorted uint64 hashes that occur in two or more documents of the group (DuckDB GROUP BY)."""
    if not hash_files:
        return np.zeros(0, np.uint64)
    con = _connect(memory_limit, threads)
    table = con.sql(
        f"SELECT hash FROM read_parquet(?) WHERE first AND hash <> {BLANK} GROUP BY hash HAVING count(*) >= 2 ORDER BY hash",
        params=[[str(p) for p in hash_files]],
    ).to_arrow_table()
    con.close()
    return table.column("hash").to_numpy().astype(np.uint64, copy=False)


def group_line_stats(hash_files: Sequence[Path], memory_limit: str = "2GB") -> dict[str, int]:
    """Line counts of a group: in, blank, in-document repeats, lines in duplicated groups, out; and how
    many documents share each duplicated line (a histogram)."""
    zero = dict(lines_in=0, lines_blank=0, lines_repeated_in_doc=0, lines_duplicate=0, lines_out=0,
                dup_hashes=0, dup_docs_2=0, dup_docs_3_10=0, dup_docs_11_100=0, dup_docs_over_100=0)
    if not hash_files:
        return zero
    con = _connect(memory_limit)
    row = con.execute(
        f"""
        WITH lines AS (SELECT hash, first FROM read_parquet(?)),
        counts AS (SELECT hash, count(*) AS n FROM lines WHERE first AND hash <> {BLANK} GROUP BY hash),
        dups AS (SELECT hash, n FROM counts WHERE n >= 2)
        SELECT
          (SELECT count(*) FROM lines),
          (SELECT count(*) FROM lines WHERE hash = {BLANK}),
          (SELECT count(*) FROM lines WHERE NOT first AND hash <> {BLANK}),
          (SELECT coalesce(sum(n), 0) FROM dups),
          (SELECT coalesce(sum(n), 0) FROM counts WHERE n = 1),
          (SELECT count(*) FROM dups),
          (SELECT count(*) FROM dups WHERE n = 2),
          (SELECT count(*) FROM dups WHERE n BETWEEN 3 AND 10),
          (SELECT count(*) FROM dups WHERE n BETWEEN 11 AND 100),
          (SELECT count(*) FROM dups WHERE n > 100)
        """,
        [[str(p) for p in hash_files]],
    ).fetchone()
    con.close()
    return dict(zip(zero, (int(v) for v in row)))


def contains_sorted(sorted_values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    if len(sorted_values) == 0:
        return np.zeros(len(queries), bool)
    pos = np.searchsorted(sorted_values, queries)
    return sorted_values[np.minimum(pos, len(sorted_values) - 1)] == queries


class LineDedupFilter:
    """Pass 2 for one part: a ``corpus.stage.BatchFilter`` fed the part's batches in order."""

    def __init__(self, hash_file: Path, duplicates: np.ndarray, source: str, stage: str = STAGE):
        table = pq.read_table(hash_file, columns=["doc", "hash", "first"])
        self.docs = table.column("doc").to_numpy()
        hashes = table.column("hash").to_numpy()
        self.keep = table.column("first").to_numpy(zero_copy_only=False) & (hashes != BLANK) & ~contains_sorted(duplicates, hashes)
        self.source, self.stage = source, stage
        self.offset = 0

    def __call__(self, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, pa.Table]:
        n = batch.num_rows
        lo, hi = np.searchsorted(self.docs, [self.offset, self.offset + n])
        lines = split_lines(batch.column("text"))
        values = pc.list_flatten(lines)
        if len(values) != hi - lo:
            raise ValueError(f"line_dedup: part has {len(values)} lines in rows {self.offset}..{self.offset + n}, "
                             f"its hash file {hi - lo} (stale hash file?)")
        keep = self.keep[lo:hi]
        kept_per_doc = np.bincount(self.docs[lo:hi][keep] - self.offset, minlength=n)
        lines_per_doc = pc.list_value_length(lines).to_numpy(zero_copy_only=False)
        self.offset += n
        offsets = np.zeros(n + 1, np.int32)
        np.cumsum(kept_per_doc, out=offsets[1:])
        kept_lines = pa.ListArray.from_arrays(pa.array(offsets), values.filter(pa.array(keep)))
        texts = pc.binary_join(kept_lines, pa.scalar(_NEWLINE, values.type))
        rewritten = batch.set_column(batch.schema.get_field_index("text"), "text", texts.cast(pa.large_string()))
        alive = kept_per_doc > 0
        emptied = ~alive
        drops = drops_table(
            batch.column("id").filter(pa.array(emptied)), self.source, self.stage, EMPTY_REASON,
            [f"all {k} lines duplicated or blank" for k in lines_per_doc[emptied]],
        )
        return rewritten.filter(pa.array(alive)), drops
