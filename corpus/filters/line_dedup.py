"""CCNet line-level dedup: a line seen in two or more documents of a shard group is removed from all
of them (the first copy too), a line repeated inside a document keeps its first occurrence only, and a
document left with no line is dropped (``line_dedup_empty``).

Two passes, so memory never holds the group's lines:

1. ``hash_batch`` turns each document batch into one row per line: ``doc`` (row in the part),
   ``hash`` (uint64), ``first`` (first occurrence of that hash inside its document). The asset writes
   these per part under ``work/line_dedup/``, and beside them the part's *keys* (``part_keys``): each
   non-blank hash once with the number of the part's documents it occurs in, sorted by hash, so a
   hash range is a few row groups of every file.
2. The group's counting is partitioned by hash range (``bucket_range``): ``count_bucket`` counts one
   bucket over the group's key files in DuckDB, on its own (any worker), and returns the bucket's
   duplicated hashes (in two or more documents) and its line counts; ``merge_buckets`` joins the
   buckets in bucket order (so the hashes stay sorted) whatever order they finished in.
   ``LineDedupFilter`` then rewrites each part's text from its hash file, keeping a line when it is the
   first in its document, not blank, and not among the duplicates (a binary search, numpy), and counts
   the part's lines (in, blank, repeated in a document, duplicated, out) into its stats.

``LineDedupStage.plan`` runs pass 1 for the stage (a part's hashes and a group's hash bucket are each one
``executor_from_env().map`` task) and makes the pass-2 units; ``report`` gives the stage's metadata.

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
import json
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Iterable, Sequence

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpus import part_runners, plots, recipe, snapshots
from corpus.executors import ExecutionSummary, executor_from_env
from corpus.filters.base import DocumentFilter, Judgement
from corpus.fingerprints import FINGERPRINT_KEY, fingerprint
from corpus.part_runners import Unit, code_fingerprint, filter_part, upstream_fingerprint
from corpus.progress import Progress
from corpus.storage import Location, PartStats, PartWriter, iter_batches, part_is_current, write_table_atomic

STAGE = "line_dedup"
SOURCE = "commoncrawl"  # CCNet's steps run on Common Crawl
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


KEY_SCHEMA = pa.schema([("hash", pa.uint64()), ("docs", pa.int32())])
# per-part line counts carried in the key file's footer (the group's line statistics sum them)
PART_COUNTS_KEY = b"corpus.line_counts"
_HASH_SPACE = 1 << 64


def part_keys(hashes: pa.Table) -> pa.Table:
    """A part's keys: every non-blank hash once, with the number of its documents it occurs in, sorted
    by hash; its footer holds the part's line counts (in, blank, repeated inside a document)."""
    h = hashes.column("hash").to_numpy()
    first = hashes.column("first").to_numpy(zero_copy_only=False)
    keys, docs = np.unique(h[first & (h != BLANK)], return_counts=True)
    counts = dict(lines_in=len(h), lines_blank=int((h == BLANK).sum()),
                  lines_repeated_in_doc=int((~first & (h != BLANK)).sum()))
    table = pa.Table.from_arrays([pa.array(keys, pa.uint64()), pa.array(docs.astype(np.int32))], schema=KEY_SCHEMA)
    return table.replace_schema_metadata({PART_COUNTS_KEY: json.dumps(counts, sort_keys=True).encode()})


def bucket_range(bucket: int, num_buckets: int) -> tuple[int, int]:
    """The hash range [lo, hi) of a bucket: the uint64 space cut into ``num_buckets`` equal ranges."""
    if not 0 <= bucket < num_buckets:
        raise ValueError(f"bucket {bucket} is not in 0..{num_buckets - 1}")
    return bucket * _HASH_SPACE // num_buckets, (bucket + 1) * _HASH_SPACE // num_buckets


@dataclass(frozen=True)
class BucketCounts:
    """One hash bucket of a group: its duplicated hashes (sorted) and how many lines they and the
    bucket's unique lines hold, with how many documents share each duplicated hash."""

    duplicates: np.ndarray
    counts: dict[str, int]


BUCKET_COUNT_NAMES = ("lines_duplicate", "lines_out", "dup_hashes", "dup_docs_2", "dup_docs_3_10",
                      "dup_docs_11_100", "dup_docs_over_100")
PART_COUNT_NAMES = ("lines_in", "lines_blank", "lines_repeated_in_doc")
# what LineDedupFilter counts per part (PartStats.counters): lines_in = blank + repeated + duplicate + out
LINE_COUNTER_NAMES = ("lines_in", "lines_blank", "lines_repeated_in_doc", "lines_duplicate", "lines_out")
# a group file's footer: the group's counts (merge_buckets), whose dup_docs_* say how widely lines repeat
GROUP_COUNTS_KEY = b"corpus.line_dedup_counts"
SPREAD = (("2", "dup_docs_2"), ("3-10", "dup_docs_3_10"), ("11-100", "dup_docs_11_100"), ("> 100", "dup_docs_over_100"))


def _connect(memory_limit: str, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET memory_limit='{memory_limit}'")
    if threads:
        con.execute(f"SET threads={int(threads)}")
    return con


def count_bucket(key_files: Sequence[Path], bucket: int, num_buckets: int, memory_limit: str = "2GB",
                 threads: int | None = None) -> BucketCounts:
    """Count one hash bucket over a group's key files (DuckDB GROUP BY over the bucket's range only:
    the files are sorted by hash, so the other row groups are skipped by their statistics)."""
    lo, hi = bucket_range(bucket, num_buckets)
    if not key_files:
        return BucketCounts(np.zeros(0, np.uint64), dict.fromkeys(BUCKET_COUNT_NAMES, 0))
    con = _connect(memory_limit, threads)
    upper = "" if hi == _HASH_SPACE else f"AND hash < {hi}::UBIGINT"
    con.execute(f"CREATE TEMP TABLE counts AS SELECT hash, sum(docs) AS n FROM read_parquet(?) "
                f"WHERE hash >= {lo}::UBIGINT {upper} GROUP BY hash", [[str(p) for p in key_files]])
    duplicates = con.sql("SELECT hash FROM counts WHERE n >= 2 ORDER BY hash").to_arrow_table()
    row = con.execute("""SELECT coalesce(sum(n) FILTER (WHERE n >= 2), 0), count(*) FILTER (WHERE n = 1),
                            count(*) FILTER (WHERE n >= 2), count(*) FILTER (WHERE n = 2),
                            count(*) FILTER (WHERE n BETWEEN 3 AND 10), count(*) FILTER (WHERE n BETWEEN 11 AND 100),
                            count(*) FILTER (WHERE n > 100) FROM counts""").fetchone()
    con.close()
    return BucketCounts(duplicates.column("hash").to_numpy().astype(np.uint64, copy=False),
                        dict(zip(BUCKET_COUNT_NAMES, (int(v) for v in row))))


def merge_buckets(buckets: Sequence[BucketCounts], key_files: Sequence[Path]) -> BucketCounts:
    """A group's duplicates and line counts from all of its buckets, given in bucket order (the merged
    hashes are sorted because the ranges are), plus the parts' own line counts from the key files."""
    counts = dict.fromkeys(PART_COUNT_NAMES + BUCKET_COUNT_NAMES, 0)
    for path in key_files:
        for name, n in json.loads(pq.read_schema(path).metadata[PART_COUNTS_KEY]).items():
            counts[name] += n
    for b in buckets:
        for name, n in b.counts.items():
            counts[name] += n
    duplicates = np.concatenate([b.duplicates for b in buckets]) if buckets else np.zeros(0, np.uint64)
    return BucketCounts(duplicates.astype(np.uint64, copy=False), counts)


def count_group(key_files: Sequence[Path], num_buckets: int, memory_limit: str = "2GB",
                threads: int | None = None) -> BucketCounts:
    """Every bucket of a group, one after the other (the in-process path; a cluster runs ``count_bucket``
    per bucket on its workers and merges them the same way)."""
    return merge_buckets([count_bucket(key_files, b, num_buckets, memory_limit, threads) for b in range(num_buckets)],
                         key_files)


def contains_sorted(sorted_values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    if len(sorted_values) == 0:
        return np.zeros(len(queries), bool)
    pos = np.searchsorted(sorted_values, queries)
    return sorted_values[np.minimum(pos, len(sorted_values) - 1)] == queries


class LineDedupFilter(DocumentFilter):
    """Pass 2 for one part, fed the part's batches in order: rewrites each text without its group's
    duplicate lines, and drops a document left with none (``EMPTY_REASON``)."""

    def __init__(self, hash_file: Path, duplicates: np.ndarray, source: str, stage: str = STAGE):
        table = pq.read_table(hash_file, columns=["doc", "hash", "first"])
        self.docs = table.column("doc").to_numpy()
        hashes = table.column("hash").to_numpy()
        self.first, self.blank = table.column("first").to_numpy(zero_copy_only=False), hashes == BLANK
        self.duplicate = self.first & ~self.blank & contains_sorted(duplicates, hashes)
        self.keep = self.first & ~self.blank & ~self.duplicate
        self.source, self.stage = source, stage
        self.offset = 0

    def judge(self, batch: pa.RecordBatch) -> Judgement:
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
        counts = (hi - lo, self.blank[lo:hi].sum(), (~self.first[lo:hi] & ~self.blank[lo:hi]).sum(),
                  self.duplicate[lo:hi].sum(), keep.sum())
        return Judgement(keep=kept_per_doc > 0, reasons=EMPTY_REASON,
                         details=[f"all {k} lines duplicated or blank" for k in lines_per_doc],
                         columns={"text": texts.cast(pa.large_string())},
                         counters=dict(zip(LINE_COUNTER_NAMES, map(int, counts))))


def snapshot_groups(parts: Sequence[Location], group_size: int) -> dict[str, list]:
    """``<snapshot>/<n>`` -> the parts of that group: each snapshot's parts (in name order) cut into groups
    of ``group_size`` (0: one group per snapshot)."""
    groups = {}
    for snapshot, members in snapshots.by_snapshot(parts).items():
        size = group_size or len(members)
        for k in range(0, len(members), size):
            groups[f"{snapshot}/{k // size:05d}"] = members[k:k + size]
    return groups


@dataclass(frozen=True)
class HashJob:
    """Pass 1 of one part: its line hashes and keys, written under the part's pass-1 fingerprint."""

    part: Location
    hashes: Path
    keys: Path
    fingerprint: str

    def is_current(self) -> bool:
        return part_is_current(self.hashes, self.fingerprint) and part_is_current(self.keys, self.fingerprint)


def write_part_hashes(job: HashJob) -> None:
    table = hash_part(iter_batches([job.part], columns=["text"]))
    write_table_atomic(job.hashes, table, {FINGERPRINT_KEY: job.fingerprint.encode()})
    write_table_atomic(job.keys, part_keys(table), {FINGERPRINT_KEY: job.fingerprint.encode()})


def _count_bucket(job: tuple[tuple[Path, ...], int], num_buckets: int, memory_limit: str) -> BucketCounts:
    key_files, bucket = job
    return count_bucket(key_files, bucket, num_buckets, memory_limit)


def _dedup_part(writer: PartWriter, progress: Progress, path: Location, hash_file: Path, group_file: Path) -> None:
    duplicates = pq.read_table(group_file).column("hash").to_numpy().astype(np.uint64, copy=False)
    filter_part(writer, iter_batches([path]), LineDedupFilter(hash_file, duplicates, SOURCE), progress)


def _remove_other_files(folder: Path, current: Iterable[Path]) -> None:
    for path in set(folder.rglob("*.parquet")) - set(current) if folder.exists() else ():
        path.unlink()


@dataclass
class LineDedupStage:
    """Pass 1 done: every part hashed (``<work>/{hashes,keys}/``), every group counted
    (``<work>/groups/<snapshot>/<n>.parquet``, kept while its parts are unchanged), and one unit per part
    to rewrite it without its group's duplicate lines."""

    groups: dict[str, list]
    groups_counted: int
    hash_buckets: int
    spread: dict[str, int]
    units: list[Unit]

    @classmethod
    def plan(cls, work: Path, parts: Sequence[Location], log: Any, summary: ExecutionSummary | None = None, *,
             group_size: int = recipe.LINE_DEDUP_GROUP_SIZE, hash_buckets: int = recipe.LINE_DEDUP_HASH_BUCKETS,
             duckdb_memory_limit: str = "2GB") -> "LineDedupStage":
        """Pass 1 (hash the stale parts, count the stale groups) and the units of pass 2; the keyword
        arguments are ``LineDedupConfig``'s fields."""
        code = code_fingerprint(sys.modules[__name__], part_runners)
        executor = executor_from_env()
        hashed = {p: HashJob(p, work / "hashes" / p.name, work / "keys" / p.name,
                             fingerprint(upstream_fingerprint(p), code)) for p in parts}
        stale = [job for job in hashed.values() if not job.is_current()]
        list(executor.map(write_part_hashes, stale, log, f"{STAGE}: hash {len(stale)} part(s)", summary))
        _remove_other_files(work / "hashes", [job.hashes for job in hashed.values()])
        _remove_other_files(work / "keys", [job.keys for job in hashed.values()])

        groups = snapshot_groups(parts, group_size)
        group_fps = {name: fingerprint([(p.name, hashed[p].fingerprint) for p in group], code) for name, group in groups.items()}
        group_files = {name: work / "groups" / f"{name}.parquet" for name in groups}
        recount = [name for name in groups if not part_is_current(group_files[name], group_fps[name])]
        buckets = executor.map(partial(_count_bucket, num_buckets=hash_buckets, memory_limit=duckdb_memory_limit),
                               [(tuple(hashed[p].keys for p in groups[name]), b) for name in recount for b in range(hash_buckets)],
                               log, f"{STAGE}: count {len(recount)} group(s) in {hash_buckets} hash bucket(s)", summary)
        for name in recount:  # each group's buckets in bucket order
            merged = merge_buckets([next(buckets) for _ in range(hash_buckets)], [hashed[p].keys for p in groups[name]])
            write_table_atomic(group_files[name], pa.table({"hash": pa.array(merged.duplicates, pa.uint64())}),
                               {FINGERPRINT_KEY: group_fps[name].encode(), GROUP_COUNTS_KEY: json.dumps(merged.counts).encode()})
        _remove_other_files(work / "groups", group_files.values())

        spread, units = dict.fromkeys((key for _, key in SPREAD), 0), []
        for name, group in groups.items():
            counts = json.loads(pq.read_schema(group_files[name]).metadata[GROUP_COUNTS_KEY])
            spread = {key: n + counts[key] for key, n in spread.items()}
            units += [Unit(p.name.removesuffix(".parquet"), fingerprint(upstream_fingerprint(p), group_fps[name], code),
                           partial(_dedup_part, path=p, hash_file=hashed[p].hashes, group_file=group_files[name]))
                      for p in group]
        return cls(groups, len(recount), hash_buckets, spread, units)

    def report(self, stats: PartStats) -> dict[str, Any]:
        """The stage's metadata: its snapshots and groups, the parts' line counts (their counters) and how
        many documents the duplicated lines were shared by (the groups' counts)."""
        lines = {name: stats.counters.get(name, 0) for name in LINE_COUNTER_NAMES}
        spread = "| documents sharing a duplicate line | lines |\n|---|---|\n" + "\n".join(
            f"| {label} | {self.spread[key]} |" for label, key in SPREAD)
        return dict(
            snapshots=sorted({name.rsplit("/", 1)[0] for name in self.groups}, key=snapshots.snapshot_order),
            groups=len(self.groups),
            groups_counted=self.groups_counted,
            hash_buckets=self.hash_buckets,
            **lines,
            duplicate_line_fraction=round(lines["lines_duplicate"] / lines["lines_in"], 4) if lines["lines_in"] else 0.0,
            docs_emptied=stats.drop_reasons.get(EMPTY_REASON, 0),
            duplicate_line_spread=plots.Markdown(spread),
        )
