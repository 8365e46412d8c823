"""Run one part of a stage: records or batches in, a PartWriter's three files out.

Two shapes cover every stage: ``ingest_part`` for readers (a stream of document dicts and ``Drop``
records) and ``filter_part`` for stages that map a record batch to (kept batch, dropped table).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

import pyarrow as pa

from corpus.progress import Progress
from corpus.schema import DROPPED_SCHEMA, Drop, batches
from corpus.storage import PartWriter, text_chars

BatchFilter = Callable[[pa.RecordBatch], tuple[pa.RecordBatch, pa.Table]]


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


def filter_part(writer: PartWriter, batches_in: Iterable[pa.RecordBatch], process: BatchFilter,
                progress: Progress | None = None) -> None:
    for batch in batches_in:
        writer.count_in(batch.num_rows, text_chars(batch))
        kept, dropped = process(batch)
        writer.write(kept)
        writer.drop(dropped)
        if progress is not None:
            progress.advance(batch.num_rows)


def drops_table(ids: pa.Array | list[str], source: str, stage: str, reasons: pa.Array | list[str] | str,
                detail: pa.Array | list[str] | None = None) -> pa.Table:
    """Vectorized ``dropped`` rows for a batch's removed ids."""
    n = len(ids)
    if isinstance(reasons, str):
        reasons = [reasons] * n
    return pa.Table.from_arrays(
        [pa.array(ids, pa.string()), pa.array([source] * n, pa.string()), pa.array([stage] * n, pa.string()),
         pa.array(reasons, pa.string()), pa.array(detail if detail is not None else [None] * n, pa.string())],
        schema=DROPPED_SCHEMA,
    )
