"""Where data lives under ``CORPUS_DATA_ROOT`` and how it is written: atomically, deterministically.

Every stage writes one Parquet *part* per input part, under three trees that the catalog reads:

    docs/<stage>/<source>/<part>.parquet      surviving documents (DOCUMENT_SCHEMA)
    dropped/<stage>/<source>/<part>.parquet   what the stage removed, with reasons (DROPPED_SCHEMA)
    funnel/<stage>/<source>/<part>.parquet    one row: docs/chars in and out (FUNNEL_SCHEMA)

Each file goes to a temp name and is renamed into place; the docs file is renamed last and carries a
fingerprint of its inputs and settings in its footer, so it is the part's completion marker: a rerun
after a crash recomputes exactly the parts that are missing or stale, and nothing else.

``CORPUS_DATA_ROOT`` is a local path or a URI that ``pyarrow.fs.FileSystem.from_uri`` resolves
(``s3://bucket/prefix``, ``gs://bucket/prefix``; S3 endpoint and credentials from the standard
``AWS_*`` variables, e.g. ``AWS_ENDPOINT_URL``). With a URI, the three part trees live on that
filesystem (a ``StorePath``) and everything that needs a real path (models, ``work/``, shards,
checkpoints, ``raw_cache/``, ``catalog.duckdb``) under the local directory ``CORPUS_LOCAL_DIR``
(default ``./data``). On an object store a rename is ``FileSystem.move``, a server-side copy + delete:
the final key appears whole or not at all, and a temp key a crash leaves behind is removed by the next
run of the stage, as on a local disk.
"""
from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import posixpath
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Iterator, Mapping, Sequence, Union

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from corpus.faults import crash_point
from corpus.fingerprints import FINGERPRINT_KEY
from corpus.schema import DOCUMENT_SCHEMA, DROPPED_SCHEMA, FUNNEL_SCHEMA, Drop, drops_to_table

PARQUET_OPTIONS: dict[str, Any] = dict(compression="zstd", compression_level=3, use_dictionary=True, write_statistics=True)
ROW_GROUP_ROWS = 16_384
TMP_MARK = ".tmp-"
TREES = ("docs", "dropped", "funnel")
# the funnel file's footer key for what a filter counted in the part (``PartStats.counters``/``histograms``)
PART_COUNTS_KEY = b"corpus.part_counts"


@dataclass(frozen=True, order=True)
class StorePath:
    """A file or folder on a non-local pyarrow filesystem (an object store): the slice of ``pathlib.Path``
    the storage layer uses, so the same code writes and reads parts on a local disk or a bucket.
    ``str()`` is its URI (``s3://bucket/key``), what DuckDB reads through a registered filesystem."""

    path: str
    fs: pafs.FileSystem = field(compare=False, repr=False)

    def __truediv__(self, name: str) -> "StorePath":
        return StorePath(posixpath.join(self.path, name) if self.path else name, self.fs)

    def __str__(self) -> str:
        return f"{self.fs.type_name}://{self.path}"

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)

    @property
    def parent(self) -> "StorePath":
        return StorePath(posixpath.dirname(self.path), self.fs)

    def with_name(self, name: str) -> "StorePath":
        return self.parent / name

    def relative_to(self, other: "StorePath") -> PurePosixPath:
        return PurePosixPath(self.path).relative_to(other.path)

    def size(self) -> int:
        return self.fs.get_file_info(self.path).size

    def _type(self) -> pafs.FileType:
        return self.fs.get_file_info(self.path).type

    def exists(self) -> bool:
        return self._type() != pafs.FileType.NotFound

    def is_file(self) -> bool:
        return self._type() == pafs.FileType.File

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        self.fs.create_dir(self.path, recursive=parents)

    def unlink(self, missing_ok: bool = False) -> None:
        if not (missing_ok and not self.exists()):
            self.fs.delete_file(self.path)

    def replace(self, target: "StorePath") -> None:
        self.fs.move(self.path, target.path)

    def _files(self) -> Iterator[tuple["StorePath", str]]:
        selector = pafs.FileSelector(self.path, allow_not_found=True, recursive=True)
        for info in self.fs.get_file_info(selector):
            if info.type == pafs.FileType.File:
                yield StorePath(info.path, self.fs), posixpath.relpath(info.path, self.path or ".")

    def glob(self, pattern: str) -> Iterator["StorePath"]:
        """Files whose path below this folder matches ``pattern`` (``*`` never crosses a ``/``)."""
        depth = pattern.count("/")
        return (p for p, rel in self._files() if rel.count("/") == depth and fnmatch.fnmatchcase(rel, pattern))

    def rglob(self, pattern: str) -> Iterator["StorePath"]:
        return (p for p, _ in self._files() if fnmatch.fnmatchcase(p.name, pattern))


# Where a file or folder of the data root is: a local path, or a path on the data root's filesystem.
Location = Union[Path, StorePath]


def _arrow(loc: Location) -> tuple[Any, pafs.FileSystem | None]:
    """(what pyarrow's parquet functions take as the file, their ``filesystem`` argument)."""
    return (loc.path, loc.fs) if isinstance(loc, StorePath) else (loc, None)


def file_size(loc: Location) -> int:
    return loc.size() if isinstance(loc, StorePath) else loc.stat().st_size


def open_parquet(loc: Location) -> pq.ParquetFile:
    target, fs = _arrow(loc)
    return pq.ParquetFile(target, filesystem=fs)


def read_table(loc: Location, columns: list[str] | None = None) -> pa.Table:
    target, fs = _arrow(loc)
    return pq.read_table(target, columns=columns, filesystem=fs)


def read_schema(loc: Location) -> pa.Schema:
    target, fs = _arrow(loc)
    return pq.read_schema(target, filesystem=fs)


def local_dir() -> Path:
    """The local directory for what needs a real path when the data root is a URI."""
    return Path(os.environ.get("CORPUS_LOCAL_DIR", "./data")).resolve()


def raw_dir() -> Path | None:
    value = os.environ.get("CORPUS_RAW_DIR")
    return Path(value).resolve() if value else None


def _temp_beside(final: Location) -> Location:
    return final.with_name(f"{final.name}{TMP_MARK}{uuid.uuid4().hex[:8]}")


@contextlib.contextmanager
def atomic_path(final: Location) -> Iterator[Location]:
    """Yield a temp path beside ``final``; rename it into place only if the block succeeds."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(final)
    try:
        yield tmp
        tmp.replace(final)
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_stale_temps(folder: Location) -> int:
    """Delete temp files a killed run left behind; returns how many."""
    if not folder.exists():
        return 0
    stale = [p for p in folder.rglob(f"*{TMP_MARK}*") if p.is_file()]
    for p in stale:
        p.unlink()
    return len(stale)


def write_table_atomic(path: Location, table: pa.Table, metadata: dict[bytes, bytes] | None = None) -> None:
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    with atomic_path(path) as tmp:
        target, fs = _arrow(tmp)
        pq.write_table(table, target, row_group_size=ROW_GROUP_ROWS, filesystem=fs, **PARQUET_OPTIONS)


def _complete_files(folder: Location, pattern: str) -> Iterator[Location]:
    """Files below ``folder`` matching ``pattern``, less writes in progress (temp names)."""
    return (p for p in folder.glob(pattern) if TMP_MARK not in p.name) if folder.exists() else iter(())


@dataclass(frozen=True)
class Layout:
    """``root``: the local directory (models, work, shards, ...; the part trees too unless ``store``);
    ``store``: where the part trees live when the data root is on a non-local filesystem."""

    root: Path
    store: StorePath | None = None

    @classmethod
    def from_env(cls) -> "Layout":
        return layout_for(os.environ.get("CORPUS_DATA_ROOT", "./data"))

    @property
    def data(self) -> Location:
        """The root of the part trees ``docs/``, ``dropped/``, ``funnel/``."""
        return self.root if self.store is None else self.store

    def part(self, tree: str, stage: str, source: str, part: str) -> Location:
        return self.data / tree / stage / source / f"{part}.parquet"

    def parts(self, tree: str, stage: str, source: str) -> list[Location]:
        """The complete parts of one stage and source in a tree, sorted by name."""
        return sorted(_complete_files(self.data / tree / stage / source, "*.parquet"))

    def docs_parts(self, stage: str, source: str) -> list[Location]:
        return self.parts("docs", stage, source)

    def sources(self, tree: str, stage: str) -> list[str]:
        """The source folders of ``stage`` in ``tree`` that hold at least one complete part."""
        return sorted({p.parent.name for p in _complete_files(self.data / tree / stage, "*/*.parquet")})

    def parts_pattern(self, tree: str, stage: str = "*") -> str | None:
        """A ``read_parquet`` glob over every source's parts of ``stage`` in ``tree``; None when there are none."""
        found = next(_complete_files(self.data / tree, f"{stage}/*/*.parquet"), None) is not None
        return str(self.data / tree / stage / "*" / "*.parquet") if found else None

    def remove_stale_temps(self, stage: str, source: str) -> int:
        return sum(remove_stale_temps(self.data / tree / stage / source) for tree in TREES)

    def clear_stage(self, stage: str, source: str, keep_parts: Iterable[str]) -> None:
        """Remove parts of a stage whose input no longer exists (so the catalog never shows ghosts)."""
        keep = set(keep_parts)
        for tree in TREES:
            folder = self.data / tree / stage / source
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


def layout_for(data_root: str) -> Layout:
    """The layout of a data root given as a local path or as a URI (``s3://``, ``gs://``, ``file://``...)."""
    if "://" not in data_root:
        return Layout(Path(data_root).resolve())
    fs, path = pafs.FileSystem.from_uri(data_root)
    if isinstance(fs, pafs.LocalFileSystem):
        return Layout(Path(path))
    return Layout(local_dir(), StorePath(path.rstrip("/"), fs))


def part_is_current(path: Location, expected_fingerprint: str) -> bool:
    if not path.exists():
        return False
    try:
        meta = read_schema(path).metadata or {}
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
    # how many parts these numbers cover that were written by this run, and that were complete already
    parts_computed: int = 0
    parts_skipped: int = 0
    # what the stage's filter counted while it ran (rows per language, per perplexity bucket, lines removed),
    # and histograms as counts in the filter's fixed bins: both summed over parts, so a stage's metadata
    # comes from its parts' stats (skipped parts included) instead of re-reading its output
    counters: dict[str, int] = field(default_factory=dict)
    histograms: dict[str, list[int]] = field(default_factory=dict)

    def merge(self, other: "PartStats") -> None:
        self.docs_in += other.docs_in
        self.docs_out += other.docs_out
        self.chars_in += other.chars_in
        self.chars_out += other.chars_out
        self.parts_computed += other.parts_computed
        self.parts_skipped += other.parts_skipped
        for reason, n in other.drop_reasons.items():
            self.drop_reasons[reason] = self.drop_reasons.get(reason, 0) + n
        self.tally(other.counters, other.histograms)

    def tally(self, counters: Mapping[str, int], histograms: Mapping[str, Sequence[int]]) -> None:
        """Add counts (and histograms, bin by bin: the same name always has the same bins)."""
        for name, n in counters.items():
            self.counters[name] = self.counters.get(name, 0) + int(n)
        for name, counts in histograms.items():
            mine = self.histograms.setdefault(name, [0] * len(counts))
            if len(mine) != len(counts):
                raise ValueError(f"histogram {name!r}: {len(counts)} bins, {len(mine)} before")
            self.histograms[name] = [a + int(b) for a, b in zip(mine, counts)]

    def counts_metadata(self) -> dict[bytes, bytes]:
        """The counters and histograms as the funnel file's footer (none when the filter counts nothing,
        so the other stages' funnel files keep their bytes)."""
        if not (self.counters or self.histograms):
            return {}
        return {PART_COUNTS_KEY: json.dumps({"counters": self.counters, "histograms": self.histograms},
                                            sort_keys=True).encode()}


class PartWriter:
    """Writes one part of a stage (docs, dropped, funnel) atomically; the docs file lands last.

    Usage: ``with PartWriter(...) as w: w.count_in(batch); w.write(kept); w.drop(drops)``.
    """

    def __init__(self, layout: Layout, stage: str, source: str, part: str, part_fingerprint: str):
        self.layout, self.stage, self.source, self.part = layout, stage, source, part
        self.fingerprint = part_fingerprint
        self.stats = PartStats(source=source, stage=stage, parts_computed=1)
        self._docs_path = layout.part("docs", stage, source, part)
        self._docs_tmp = _temp_beside(self._docs_path)
        self._writer: pq.ParquetWriter | None = None
        self._drops: list[pa.Table] = []

    def __enter__(self) -> "PartWriter":
        self._docs_path.parent.mkdir(parents=True, exist_ok=True)
        schema = DOCUMENT_SCHEMA.with_metadata({FINGERPRINT_KEY: self.fingerprint.encode()})
        target, fs = _arrow(self._docs_tmp)
        self._writer = pq.ParquetWriter(target, schema, filesystem=fs, **PARQUET_OPTIONS)
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

    def tally(self, counters: Mapping[str, int], histograms: Mapping[str, Sequence[int]]) -> None:
        """What the stage's filter counted in a batch (kept with the part: ``read_part_stats`` gives it back)."""
        self.stats.tally(counters, histograms)

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
        write_table_atomic(self.layout.part("funnel", self.stage, self.source, self.part), funnel, s.counts_metadata())
        self._docs_tmp.replace(self._docs_path)  # last: the part is now complete


def _value_counts(column: pa.ChunkedArray | pa.Array) -> tuple[list[str], list[int]]:
    counts = pc.value_counts(column)
    return counts.field("values").to_pylist(), counts.field("counts").to_pylist()


def read_part_stats(layout: Layout, stage: str, source: str, part: str) -> PartStats:
    """Stats of an already-complete part, so a skipped part still reports its numbers (its filter's
    counters and histograms too)."""
    funnel = read_table(layout.part("funnel", stage, source, part))
    row = funnel.to_pylist()[0]
    stats = PartStats(source=source, stage=stage, docs_in=row["docs_in"], docs_out=row["docs_out"],
                      chars_in=row["chars_in"], chars_out=row["chars_out"], parts_skipped=1)
    if counts := (funnel.schema.metadata or {}).get(PART_COUNTS_KEY):
        stored = json.loads(counts)
        stats.tally(stored["counters"], stored["histograms"])
    dropped = read_table(layout.part("dropped", stage, source, part), columns=["reason"])
    if dropped.num_rows:
        stats.drop_reasons = dict(zip(*_value_counts(dropped.column("reason"))))
    return stats


def iter_batches(paths: Iterable[Location], columns: list[str] | None = None, batch_size: int = 1024) -> Iterator[pa.RecordBatch]:
    """Stream record batches from Parquet files in order, never holding a whole file."""
    for path in paths:
        yield from open_parquet(path).iter_batches(batch_size=batch_size, columns=columns)
