"""The one shape of a document filter: judge a batch, and the base does the bookkeeping.

A filter (in the spirit of datatrove's ``filter(doc) -> bool | reason``, vectorised over an Arrow
batch) returns a ``Judgement``: a keep mask, a reason (and optional detail) per dropped row, and the
columns it fills or rewrites. ``DocumentFilter.__call__`` turns that into the kept batch and the
``dropped`` rows, so it is a ``corpus.part_runners.BatchFilter`` that ``filter_part`` runs.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pyarrow as pa

from corpus.part_runners import drops_table

Values = pa.Array | pa.ChunkedArray | Sequence | np.ndarray


@dataclass(frozen=True)
class Judgement:
    """A filter's verdict on one batch.

    ``reasons``/``details`` hold one value per row (read only where ``keep`` is False), or one
    string for every dropped row; ``columns`` are whole columns of the batch to set (annotations
    such as ``lang_score``, or a rewritten ``text``)."""

    keep: np.ndarray
    reasons: Values | str
    details: Values | str | None = None
    columns: Mapping[str, pa.Array] = field(default_factory=dict)


def _dropped_values(values: Values | str | None, dropped: np.ndarray) -> list | str | None:
    if values is None or isinstance(values, str):
        return values
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.filter(pa.array(dropped)).to_pylist()
    return [v for v, d in zip(values, dropped) if d]


class DocumentFilter(ABC):
    """Base of every batch filter. Subclasses set ``source`` and ``stage`` and implement ``judge``."""

    source: str
    stage: str

    @abstractmethod
    def judge(self, batch: pa.RecordBatch) -> Judgement:
        """The verdict on ``batch`` (called once per batch, in part order)."""

    def __call__(self, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, pa.Table]:
        verdict = self.judge(batch)
        keep = np.asarray(verdict.keep, bool)
        if len(keep) != batch.num_rows:
            raise ValueError(f"{type(self).__name__}: keep mask has {len(keep)} rows, the batch {batch.num_rows}")
        out = batch
        for name, column in verdict.columns.items():
            out = out.set_column(out.schema.get_field_index(name), name, column)
        dropped = ~keep
        n_dropped = int(dropped.sum())
        reasons = _dropped_values(verdict.reasons, dropped)
        details = _dropped_values(verdict.details, dropped)
        if isinstance(details, str):
            details = [details] * n_dropped
        drops = drops_table(batch.column("id").filter(pa.array(dropped)), self.source, self.stage, reasons, details)
        return out.filter(pa.array(keep)), drops
