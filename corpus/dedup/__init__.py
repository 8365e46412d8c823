"""Exact and near-duplicate removal across all sources."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from corpus.stage import BatchFilter, drops_table


def removal_filter(source: str, stage: str, removals: pa.Table, reason_prefix: str) -> BatchFilter:
    """A batch filter dropping the ids in ``removals`` (columns ``id``, ``kept_id``) with reason
    ``<reason_prefix>:<kept id>``."""
    removals = removals.filter(pc.equal(removals.column("source"), source)) if "source" in removals.column_names else removals
    removed_ids = removals.column("id").combine_chunks()
    kept_ids = removals.column("kept_id").combine_chunks()

    def apply(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, pa.Table]:
        hit = pc.is_in(batch.column("id"), value_set=removed_ids)
        dropped_ids = batch.column("id").filter(hit)
        kept_for = pc.take(kept_ids, pc.index_in(dropped_ids, value_set=removed_ids))
        reasons = pc.binary_join_element_wise(reason_prefix, kept_for, ":") if len(dropped_ids) else pa.array([], pa.string())
        return batch.filter(pc.invert(hit)), drops_table(dropped_ids, source, stage, reasons)

    return apply
