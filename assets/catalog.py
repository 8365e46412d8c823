"""The DuckDB catalog asset: refreshes ``documents``, ``dropped`` and ``funnel`` and shows the funnel."""

import dagster as dg

from assets.resources import CorpusStorage, DUCKDB_POOL
from assets.stages import DOCUMENT_TABLE_SCHEMA
from corpus import catalog, presets
from corpus.plots import as_markdown_image, funnel_plot

# the assets of every recipe's curated stage (``curated_documents`` is the active recipe's)
CURATED_ASSETS = sorted({presets.STAGE_ASSETS[presets.Preset(r).curated_stage] for r in presets.RECIPES})


@dg.asset(group_name="catalog", deps=CURATED_ASSETS, kinds={"parquet"})
def curated_documents(corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """The curated corpus of the active recipe: the documents of its last stage (``near_dedup`` under llama1,
    ``semantic_dedup`` under llama3), where the blocking checks, the catalog's ``documents``, the mixture and
    ``datasets.load_dataset("parquet", data_files=...)`` read them. It writes nothing: it names them."""
    layout = corpus_storage.layout()
    preset = corpus_storage.preset()
    counts = catalog.curated_counts(layout, preset.curated_stage)
    return dg.MaterializeResult(metadata={
        "dagster/row_count": dg.MetadataValue.int(sum(counts.values())),
        "dagster/column_schema": dg.MetadataValue.table_schema(DOCUMENT_TABLE_SCHEMA),
        "recipe": preset.name,
        "curated_stage": preset.curated_stage,
        "data_files": layout.parts_pattern("docs", preset.curated_stage) or "",
        **{f"docs_{source}": n for source, n in sorted(counts.items())},
    })


@dg.asset(group_name="catalog", deps=[curated_documents], kinds={"duckdb"}, pool=DUCKDB_POOL)
def corpus_catalog(context: dg.AssetExecutionContext, corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """``catalog.duckdb``: every curated document, every drop with its reason, the funnel per stage."""
    layout = corpus_storage.layout()
    preset = corpus_storage.preset()
    counts = catalog.refresh(layout, preset.curated_stage)
    con = catalog.connect(layout, read_only=True)
    funnel = con.execute("SELECT * FROM funnel").fetchall()
    reasons = con.execute("SELECT stage, reason, count(*) FROM dropped GROUP BY ALL ORDER BY 3 DESC LIMIT 30").fetchall()
    con.close()
    funnel_md = "| source | stage | docs in | docs out | chars in | chars out |\n|---|---|---|---|---|---|\n" + "\n".join(
        f"| {s} | {st} | {a:,} | {b:,} | {c:,} | {d:,} |" for s, st, a, b, c, d in funnel)
    reasons_md = "| stage | reason | docs |\n|---|---|---|\n" + "\n".join(f"| {a} | {b} | {c:,} |" for a, b, c in reasons)
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(layout.catalog)),
        "recipe": preset.name,
        "curated_stage": preset.curated_stage,
        "documents": counts["documents"],
        "dropped": counts["dropped"],
        "funnel": dg.MetadataValue.md(funnel_md),
        "funnel_plot": dg.MetadataValue.md(as_markdown_image(funnel_plot(funnel))),
        "top_drop_reasons": dg.MetadataValue.md(reasons_md),
    })
