"""The DuckDB catalog users query: ``documents``, ``dropped`` and ``funnel`` over the Parquet parts.

Views read the Parquet files where they lie (nothing is copied), so the catalog is always as fresh as
the last completed part. When the data root is on an object store the views name ``s3://``/``gs://``
URIs, read through the data root's pyarrow filesystem registered with DuckDB (no ``httpfs`` needed):
open the catalog with ``connect(layout)``, which registers it again.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
from fsspec.implementations.arrow import ArrowFSWrapper

from corpus import presets
from corpus.schema import DOCUMENT_SCHEMA, DROPPED_SCHEMA, FUNNEL_SCHEMA
from corpus.storage import Layout, read_table

# The order the default recipe's (llama1) stages run in; the funnel sorts by every recipe's order
# (``presets.ALL_STAGES``), of which this is a subsequence.
STAGE_ORDER = presets.Preset(presets.LLAMA1).funnel_order
# The default recipe's curated documents: the output of its last stage, near-duplicate removal
# (a recipe's own: ``presets.Preset.curated_stage``; the ``curated_documents`` asset names the active one).
CURATED_STAGE = presets.Preset(presets.LLAMA1).curated_stage
VIEWS = ("documents", "dropped", "funnel")  # what users query


def _empty_table_sql(name: str, schema) -> str:
    types = {"string": "VARCHAR", "large_string": "VARCHAR", "float": "FLOAT", "int64": "BIGINT"}
    cols = ", ".join(f'"{f.name}" {types[str(f.type)]}' for f in schema)
    return f"CREATE OR REPLACE TABLE {name} ({cols})"


def curated_counts(layout: Layout, stage: str) -> dict[str, int]:
    """Documents per source in the complete parts of ``stage`` (from their funnel rows, no document read)."""
    counts = {}
    for source in presets.possible_sources(stage):
        parts = layout.parts("funnel", stage, source)
        if parts:
            counts[source] = sum(read_table(p, columns=["docs_out"]).column("docs_out")[0].as_py() for p in parts)
    return counts


def connect(layout: Layout, read_only: bool = False, database: str | None = None) -> duckdb.DuckDBPyConnection:
    """A connection to ``catalog.duckdb`` (or ``database``, e.g. ``":memory:"``) that can read the parts
    wherever the data root is."""
    con = duckdb.connect(database or str(layout.catalog), read_only=read_only)
    if layout.store is not None:
        con.register_filesystem(ArrowFSWrapper(layout.store.fs))
    return con


def refresh(layout: Layout, curated_stage: str = CURATED_STAGE) -> dict[str, int]:
    """(Re)create the catalog's views (``documents``: the parts of ``curated_stage``); returns the row
    count of each."""
    layout.root.mkdir(parents=True, exist_ok=True)
    con = connect(layout)
    try:
        for name in ("funnel", "documents", "dropped", "funnel_parts"):
            kind = con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = ?", [name]).fetchone()
            if kind:
                con.execute(f"DROP {'VIEW' if kind[0] == 'VIEW' else 'TABLE'} {name}")
        docs = layout.parts_pattern("docs", curated_stage)
        if docs:
            con.execute(f"CREATE VIEW documents AS SELECT * FROM read_parquet('{docs}') ORDER BY id")
        else:
            con.execute(_empty_table_sql("documents", DOCUMENT_SCHEMA))
        dropped = layout.parts_pattern("dropped")
        if dropped:
            con.execute(f"CREATE VIEW dropped AS SELECT id, source, stage, reason, detail FROM read_parquet('{dropped}')")
        else:
            con.execute(_empty_table_sql("dropped", DROPPED_SCHEMA))
        funnel = layout.parts_pattern("funnel")
        if funnel:
            con.execute(f"CREATE VIEW funnel_parts AS SELECT * FROM read_parquet('{funnel}')")
        else:
            con.execute(_empty_table_sql("funnel_parts", FUNNEL_SCHEMA))
        order = ", ".join(f"('{s}', {i})" for i, s in enumerate(presets.ALL_STAGES))
        con.execute(
            f"""CREATE VIEW funnel AS
            SELECT f.source, f.stage, sum(docs_in)::BIGINT AS docs_in, sum(docs_out)::BIGINT AS docs_out,
                   sum(chars_in)::BIGINT AS chars_in, sum(chars_out)::BIGINT AS chars_out
            FROM funnel_parts f LEFT JOIN (VALUES {order}) AS o(stage, step) ON f.stage = o.stage
            GROUP BY f.source, f.stage, o.step ORDER BY f.source, o.step"""
        )
        return {name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in VIEWS}
    finally:
        con.close()


@dataclass(frozen=True)
class FunnelAgreement:
    """The catalog against its funnel: the views missing (then nothing else is counted), and where the
    counts disagree: per source, curated documents vs the funnel's documents out of the curated stage; per
    source and stage, ``dropped`` rows vs the funnel's documents in minus out."""

    missing_views: list[str] = field(default_factory=list)
    documents: int = 0
    dropped: int = 0
    problems: list[str] = field(default_factory=list)


_DOCUMENTS_MISMATCH = """
    SELECT coalesce(d.source, f.source), coalesce(d.n, 0), coalesce(f.n, 0)
    FROM (SELECT source, count(*) AS n FROM documents GROUP BY source) d
    FULL JOIN (SELECT source, sum(docs_out) AS n FROM funnel WHERE stage = ? GROUP BY source) f
    ON d.source = f.source WHERE coalesce(d.n, 0) <> coalesce(f.n, 0) ORDER BY 1"""
_DROPPED_MISMATCH = """
    SELECT coalesce(d.source, f.source), coalesce(d.stage, f.stage), coalesce(d.n, 0), coalesce(f.n, 0)
    FROM (SELECT source, stage, count(*) AS n FROM dropped GROUP BY ALL) d
    FULL JOIN (SELECT source, stage, sum(docs_in - docs_out) AS n FROM funnel GROUP BY ALL) f
    ON d.source = f.source AND d.stage = f.stage WHERE coalesce(d.n, 0) <> coalesce(f.n, 0) ORDER BY 1, 2"""


def funnel_agreement(layout: Layout, curated_stage: str = CURATED_STAGE) -> FunnelAgreement:
    """Compare ``catalog.duckdb``'s views with its funnel (read only; the catalog must exist)."""
    con = connect(layout, read_only=True)
    try:
        present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        missing = [v for v in VIEWS if v not in present]
        if missing:
            return FunnelAgreement(missing_views=missing)
        problems = [f"{s}: {a} documents vs funnel {b}" for s, a, b in con.execute(_DOCUMENTS_MISMATCH, [curated_stage]).fetchall()]
        problems += [f"{s}/{st}: {a} dropped rows vs funnel {b}" for s, st, a, b in con.execute(_DROPPED_MISMATCH).fetchall()]
        return FunnelAgreement(documents=con.execute("SELECT count(*) FROM documents").fetchone()[0],
                               dropped=con.execute("SELECT count(*) FROM dropped").fetchone()[0], problems=problems)
    finally:
        con.close()
