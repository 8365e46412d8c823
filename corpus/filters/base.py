"""The one shape of a document filter: judge a batch, and the base does the bookkeeping.

A filter (in the spirit of datatrove's ``filter(doc) -> bool | reason``, vectorised over an Arrow
batch) returns a ``Judgement``: a keep mask, a reason (and optional detail) per dropped row, the
columns it fills or rewrites, and what it counted (``counters``, fixed-bin ``histograms``: the part's
``PartStats`` sums them, so a stage's metadata needs no second look at its output).
``DocumentFilter.apply`` turns that into the kept batch and the ``dropped`` rows (``Outcome``), which
``corpus.part_runners.filter_part`` writes; calling the filter gives (kept, dropped).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pyarrow as pa

from corpus.schema import DROPPED_SCHEMA

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
    counters: Mapping[str, int] = field(default_factory=dict)
    histograms: Mapping[str, Sequence[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """A judged batch: the kept rows (annotated), the ``dropped`` rows, and the judgement's counts."""

    kept: pa.RecordBatch
    dropped: pa.Table
    counters: Mapping[str, int]
    histograms: Mapping[str, Sequence[int]]


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
        outcome = self.apply(batch)
        return outcome.kept, outcome.dropped

    def apply(self, batch: pa.RecordBatch) -> Outcome:
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
        return Outcome(out.filter(pa.array(keep)), drops, verdict.counters, verdict.histograms)
