"""Run one part of a stage: records or batches in, a PartWriter's three files out.

Two shapes cover every stage: ``ingest_part`` for readers (a stream of document dicts and ``Drop``
records) and ``filter_part`` for stages that run a ``DocumentFilter`` over each record batch. A stage's
parts are ``Unit``s (``filter_units`` makes one per upstream part) that ``assets.stages.run_units`` builds.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import pyarrow as pa

from corpus.filters.base import DocumentFilter
from corpus.fingerprints import FINGERPRINT_KEY, fingerprint
from corpus.progress import Progress
from corpus.schema import Drop, batches
from corpus.storage import Layout, Location, PartWriter, iter_batches, read_schema, text_chars

BatchFilter = Callable[[pa.RecordBatch], tuple[pa.RecordBatch, pa.Table]]


@dataclass(frozen=True)
class Unit:
    """One part of a stage: its name, the fingerprint of everything it depends on, and how to build it
    (``build`` is pickled for Ray: it captures settings, paths and lazily loaded models only)."""

    part: str
    fingerprint: str
    build: Callable[[PartWriter, Progress], None]


def code_fingerprint(*modules_or_paths: Any) -> str:
    """A hash of the modules' source files: a code change recomputes the parts it affects."""
    h = hashlib.sha256()
    for m in modules_or_paths:
        h.update(Path(m if isinstance(m, Path) else m.__file__).read_bytes())
    return h.hexdigest()[:16]


def upstream_fingerprint(path: Location) -> str:
    return (read_schema(path).metadata or {}).get(FINGERPRINT_KEY, b"").decode()


def ingest_part(writer: PartWriter, records: Iterable[dict[str, Any] | Drop], progress: Progress | None = None) -> None:
    """Write a reader's documents; its quarantined records go to ``dropped`` and count as input."""

    def documents() -> Iterator[dict[str, Any]]:
        for record in records:
            if isinstance(record, Drop):
                writer.drop([record])
                writer.count_in(1, 0)
                continue
            writer.count_in(1, len(record["text"]))
            if progress is not None:
                progress.advance()
            yield record

    for batch in batches(documents()):
        writer.write(batch)


def filter_part(writer: PartWriter, batches_in: Iterable[pa.RecordBatch], process: DocumentFilter,
                progress: Progress | None = None) -> None:
    """The kept rows, the dropped rows and what the filter counted, batch by batch."""
    for batch in batches_in:
        writer.count_in(batch.num_rows, text_chars(batch))
        outcome = process.apply(batch)
        writer.write(outcome.kept)
        writer.drop(outcome.dropped)
        writer.tally(outcome.counters, outcome.histograms)
        if progress is not None:
            progress.advance(batch.num_rows)


def filter_units(layout: Layout, stage: str, source: str, upstream_stage: str, settings: Any,
                 make_filter: Callable[[], DocumentFilter], code: str) -> list[Unit]:
    """One unit per upstream part, each applying a batch filter built once per part.

    ``settings`` may be a function of the upstream part's path, for settings that differ per part."""
    units = []
    for path in layout.docs_parts(upstream_stage, source):
        fp = fingerprint(upstream_fingerprint(path), settings(path) if callable(settings) else settings, code)

        def build(writer: PartWriter, progress: Progress, path: Location = path) -> None:
            filter_part(writer, iter_batches([path]), make_filter(), progress)

        units.append(Unit(path.name.removesuffix(".parquet"), fp, build))
    return units
