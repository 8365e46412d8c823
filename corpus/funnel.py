"""The funnel read back for the quality gates: documents in and out per source and stage, from the
funnel parts (never by re-reading the documents), with the most frequent drop reasons from the dropped
parts, and where a source's documents went when none of them reached the end of the chain.
"""
from __future__ import annotations

from dataclasses import dataclass

from corpus import catalog, presets
from corpus.catalog import CURATED_STAGE
from corpus.storage import Layout

INGEST_STAGE = presets.INGEST
TOP_REASONS = 3  # drop reasons named in a gate's description


@dataclass(frozen=True)
class StageCount:
    """One source at one stage, summed over its parts."""

    source: str
    stage: str
    docs_in: int
    docs_out: int
    top_reasons: tuple[tuple[str, int], ...] = ()  # (reason, dropped rows), most frequent first

    @property
    def emptied(self) -> bool:
        """Documents came in and none came out."""
        return self.docs_in > 0 and self.docs_out == 0

    def describe(self) -> str:
        reasons = ", ".join(f"{r} {n}" for r, n in self.top_reasons) or "no dropped rows"
        return (f"stage {self.stage}: {self.docs_in} {self.source} documents in, {self.docs_out} out "
                f"(top drop reasons: {reasons})")


def _parts(layout: Layout, tree: str, stage: str, sources: tuple[str, ...] | None) -> str | list[str] | None:
    """What ``read_parquet`` reads: a glob over every source, or the listed parts of ``sources`` (fewer
    files to open on an object store); None when there is none."""
    if sources is None:
        return layout.parts_pattern(tree, stage)
    stages = presets.ALL_STAGES if stage == "*" else (stage,)
    return [str(p) for st in stages for s in sources for p in layout.parts(tree, st, s)] or None


def stage_counts(layout: Layout, stage: str = "*", sources: tuple[str, ...] | None = None,
                 top_reasons: int = TOP_REASONS) -> dict[tuple[str, str], StageCount]:
    """``(source, stage) -> StageCount`` over the complete funnel parts of ``stage`` (default: every
    stage) and ``sources`` (default: every source); empty when there is none."""
    funnel = _parts(layout, "funnel", stage, sources)
    if funnel is None:
        return {}
    dropped = _parts(layout, "dropped", stage, sources)
    con = catalog.connect(layout, database=":memory:")
    try:
        totals = con.execute("SELECT source, stage, sum(docs_in)::BIGINT, sum(docs_out)::BIGINT "
                             "FROM read_parquet(?) GROUP BY ALL", [funnel]).fetchall()
        ranked = con.execute(
            "SELECT source, stage, reason, n FROM (SELECT source, stage, reason, count(*) AS n, "
            "row_number() OVER (PARTITION BY source, stage ORDER BY count(*) DESC, reason) AS k "
            "FROM read_parquet(?) GROUP BY source, stage, reason) WHERE k <= ? ORDER BY source, stage, k",
            [dropped, top_reasons]).fetchall() if dropped else []
    finally:
        con.close()
    reasons: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for source, at, reason, n in ranked:
        reasons.setdefault((source, at), []).append((reason, n))
    return {(s, st): StageCount(s, st, n_in, n_out, tuple(reasons.get((s, st), ())))
            for s, st, n_in, n_out in totals}


def source_stages(counts: dict[tuple[str, str], StageCount], source: str) -> list[StageCount]:
    """The stages a source went through, in funnel order."""
    rank = {stage: i for i, stage in enumerate(presets.ALL_STAGES)}
    return sorted((c for (s, _), c in counts.items() if s == source), key=lambda c: rank.get(c.stage, len(rank)))


def has_raw_input(counts: dict[tuple[str, str], StageCount], source: str) -> bool:
    """At least one raw input of the source was read (an ingest part exists, with or without documents)."""
    return (source, INGEST_STAGE) in counts


def where_documents_went(counts: dict[tuple[str, str], StageCount], source: str,
                         curated_stage: str = CURATED_STAGE) -> str:
    """Why a source has no curated documents: the stage that dropped the last of them and the top reasons."""
    stages = source_stages(counts, source)
    if not stages:
        return f"{source}: no raw input"
    if stages[0].docs_in == 0:
        return f"{source}: its raw input holds no documents ({stages[0].describe()})"
    emptied = next((c for c in stages if c.emptied), None)
    if emptied is not None:
        return f"{source}: every document dropped at {emptied.describe()}"
    last = stages[-1]
    if last.stage != curated_stage:
        return f"{source}: {last.docs_out} documents after stage {last.stage}, no later stage has run"
    return f"{source}: {last.docs_out} curated documents, none of them in the token shards"


def why_missing(layout: Layout, sources: list[str], curated_stage: str = CURATED_STAGE) -> dict[str, str]:
    """``where_documents_went`` for each of ``sources`` (the ones with a mixture target and no tokens)."""
    counts = stage_counts(layout, sources=tuple(sources)) if sources else {}
    return {s: where_documents_went(counts, s, curated_stage) for s in sources}
