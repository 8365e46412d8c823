"""Where data lives under ``CORPUS_DATA_ROOT`` and how it is written: atomically, deterministically.

Every stage writes one Parquet *part* per input part, under three trees that the catalog reads:

    docs/<stage>/<source>/<part>.parquet      surviving documents (DOCUMENT_SCHEMA)
    dropped/<stage>/<source>/<part>.parquet   what the stage removed, with reasons (DROPPED_SCHEMA)
    funnel/<stage>/<source>/<part>.parquet    one row: docs/chars in and out (FUNNEL_SCHEMA)

Each file goes to a temp name and is renamed into place; the docs file is renamed last and carries a
fingerprint of its inputs and settings in its footer, so it is the part's completion marker: a rerun
after a crash recomputes exactly the parts that are missing or stale, and nothing else.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpus.faults import crash_point
from corpus.schema import DOCUMENT_SCHEMA, DROPPED_SCHEMA, FUNNEL_SCHEMA, Drop, drops_to_table

PARQUET_OPTIONS: dict[str, Any] = dict(compression="zstd", compression_level=3, use_dictionary=True, write_statistics=True)
ROW_GROUP_ROWS = 16_384
FINGERPRINT_KEY = b"corpus.fingerprint"
TMP_MARK = ".tmp-"


def data_root() -> Path:
    return Path(os.environ.get("CORPUS_DATA_ROOT", "./data")).resolve()


def raw_dir() -> Path | None:
    value = os.environ.get("CORPUS_RAW_DIR")
    return Path(value).resolve() if value else None


def fingerprint(*parts: Any) -> str:
    """A short content hash of JSON-serialisable settings and input descriptions."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temp path beside ``final``; rename it into place only if the block succeeds."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f"{final.name}{TMP_MARK}{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_stale_temps(folder: Path) -> int:
    """Delete temp files a killed run left behind; returns how many."""
    if not folder.exists():
        return 0
    stale = [p for p in folder.rglob(f"*{TMP_MARK}*") if p.is_file()]
    for p in stale:
        p.unlink()
    return len(stale)


def write_table_atomic(path: Path, table: pa.Table, metadata: dict[bytes, bytes] | None = None) -> None:
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, row_group_size=ROW_GROUP_ROWS, **PARQUET_OPTIONS)


@dataclass(frozen=True)
class Layout:
    root: Path

    @classmethod
    def from_env(cls) -> "Layout":
        return cls(data_root())

    def part(self, tree: str, stage: str, source: str, part: str) -> Path:
        return self.root / tree / stage / source / f"{part}.parquet"

    def docs_parts(self, stage: str, source: str) -> list[Path]:
        folder = self.root / "docs" / stage / source
        return sorted(p for p in folder.glob("*.parquet") if TMP_MARK not in p.name) if folder.exists() else []

    def clear_stage(self, stage: str, source: str, keep_parts: Iterable[str]) -> None:
        """Remove parts of a stage whose input no longer exists (so the catalog never shows ghosts)."""
        keep = set(keep_parts)
        for tree in ("docs", "dropped", "funnel"):
            folder = self.root / tree / stage / source
            for p in folder.glob("*.parquet") if folder.exists() else ():
                if p.name.removesuffix(".parquet") not in keep:
                    p.unlink()

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def shards(self) -> Path:
        return self.root / "shards"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def raw_cache(self) -> Path:
        return self.root / "raw_cache"

    @property
    def catalog(self) -> Path:
        return self.root / "catalog.duckdb"

    @property
    def work(self) -> Path:
        return self.root / "work"


def part_is_current(path: Path, expected_fingerprint: str) -> bool:
    if not path.exists():
        return False
    try:
        meta = pq.read_schema(path).metadata or {}
    except (pa.ArrowInvalid, OSError):
        return False
    return meta.get(FINGERPRINT_KEY) == expected_fingerprint.encode()


def text_chars(batch: pa.RecordBatch | pa.Table) -> int:
    if batch.num_rows == 0:
        return 0
    return int(pc.sum(pc.utf8_length(batch.column("text"))).as_py() or 0)


@dataclass
class PartStats:
    source: str
    stage: str
    docs_in: int = 0
    docs_out: int = 0
    chars_in: int = 0
    chars_out: int = 0
    drop_reasons: dict[str, int] = field(default_factory=dict)
    skipped: bool = False

    def merge(self, other: "PartStats") -> None:
        self.docs_in += other.docs_in
        self.docs_out += other.docs_out
        self.chars_in += other.chars_in
        self.chars_out += other.chars_out
        for reason, n in other.drop_reasons.items():
            self.drop_reasons[reason] = self.drop_reasons.get(reason, 0) + n


class PartWriter:
    """Writes one part of a stage (docs, dropped, funnel) atomically; the docs file lands last.

    Usage: ``with PartWriter(...) as w: w.count_in(batch); w.write(kept); w.drop(drops)``.
    """

    def __init__(self, layout: Layout, stage: str, source: str, part: str, part_fingerprint: str):
        self.layout, self.stage, self.source, self.part = layout, stage, source, part
        self.fingerprint = part_fingerprint
        self.stats = PartStats(source=source, stage=stage)
        self._docs_path = layout.part("docs", stage, source, part)
        self._docs_tmp = self._docs_path.with_name(f"{self._docs_path.name}{TMP_MARK}{uuid.uuid4().hex[:8]}")
        self._writer: pq.ParquetWriter | None = None
        self._drops: list[pa.Table] = []

    def __enter__(self) -> "PartWriter":
        self._docs_path.parent.mkdir(parents=True, exist_ok=True)
        schema = DOCUMENT_SCHEMA.with_metadata({FINGERPRINT_KEY: self.fingerprint.encode()})
        self._writer = pq.ParquetWriter(self._docs_tmp, schema, **PARQUET_OPTIONS)
        return self

    def count_in(self, docs: int, chars: int) -> None:
        self.stats.docs_in += docs
        self.stats.chars_in += chars

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        if batch.num_rows == 0:
            return
        if batch.schema != DOCUMENT_SCHEMA:
            batch = batch.select(DOCUMENT_SCHEMA.names).cast(DOCUMENT_SCHEMA)
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        self._writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        crash_point(f"write:{self.stage}")
        self.stats.docs_out += batch.num_rows
        self.stats.chars_out += text_chars(batch)

    def drop(self, drops: Iterable[Drop] | pa.Table) -> None:
        table = drops if isinstance(drops, pa.Table) else drops_to_table(drops)
        if table.num_rows == 0:
            return
        self._drops.append(table.select(DROPPED_SCHEMA.names).cast(DROPPED_SCHEMA))
        for reason, n in zip(*_value_counts(table.column("reason"))):
            self.stats.drop_reasons[reason] = self.stats.drop_reasons.get(reason, 0) + n

    def __exit__(self, exc_type, exc, tb) -> None:
        self._writer.close()
        if exc_type is not None:
            self._docs_tmp.unlink(missing_ok=True)
            return
        dropped = pa.concat_tables(self._drops) if self._drops else DROPPED_SCHEMA.empty_table()
        write_table_atomic(self.layout.part("dropped", self.stage, self.source, self.part), dropped)
        s = self.stats
        funnel = pa.Table.from_pylist(
            [dict(source=s.source, stage=s.stage, docs_in=s.docs_in, docs_out=s.docs_out,
                  chars_in=s.chars_in, chars_out=s.chars_out)],
            schema=FUNNEL_SCHEMA,
        )
        write_table_atomic(self.layout.part("funnel", self.stage, self.source, self.part), funnel)
        os.replace(self._docs_tmp, self._docs_path)  # last: the part is now complete


def _value_counts(column: pa.ChunkedArray | pa.Array) -> tuple[list[str], list[int]]:
    counts = pc.value_counts(column)
    return counts.field("values").to_pylist(), counts.field("counts").to_pylist()


def read_part_stats(layout: Layout, stage: str, source: str, part: str) -> PartStats:
    """Stats of an already-complete part, so a skipped part still reports its numbers."""
    row = pq.read_table(layout.part("funnel", stage, source, part)).to_pylist()[0]
    stats = PartStats(source=source, stage=stage, docs_in=row["docs_in"], docs_out=row["docs_out"],
                      chars_in=row["chars_in"], chars_out=row["chars_out"], skipped=True)
    dropped = pq.read_table(layout.part("dropped", stage, source, part), columns=["reason"])
    if dropped.num_rows:
        stats.drop_reasons = dict(zip(*_value_counts(dropped.column("reason"))))
    return stats


def iter_batches(paths: Iterable[Path], columns: list[str] | None = None, batch_size: int = 1024) -> Iterator[pa.RecordBatch]:
    """Stream record batches from Parquet files in order, never holding a whole file."""
    for path in paths:
        pf = pq.ParquetFile(path)
        yield from pf.iter_batches(batch_size=batch_size, columns=columns)
