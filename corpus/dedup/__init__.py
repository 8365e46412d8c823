"""Exact and near-duplicate removal across all sources."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpus.filters.base import DocumentFilter, Judgement


@dataclass
class RemovalFilter(DocumentFilter):
    """Drops the ids in ``removals`` (columns ``id``, ``kept_id``, optionally ``source``) with one ``reason``
    and the kept id as the ``detail`` (so the reason tables and plots count one row per reason, not per kept
    document)."""

    source: str
    stage: str
    removals: pa.Table
    reason: str
    _removed: pa.Array = field(init=False, repr=False)
    _kept: pa.Array = field(init=False, repr=False)

    def __post_init__(self) -> None:
        removals = self.removals
        if "source" in removals.column_names:
            removals = removals.filter(pc.equal(removals.column("source"), self.source))
        self._removed = removals.column("id").combine_chunks()
        self._kept = removals.column("kept_id").combine_chunks()

    def judge(self, batch: pa.RecordBatch) -> Judgement:
        position = pc.index_in(batch.column("id"), value_set=self._removed)
        kept_for = pc.take(self._kept, position)
        return Judgement(keep=np.asarray(position.is_null().to_numpy(zero_copy_only=False), bool),
                         reasons=self.reason, details=kept_for)
