"""The DuckDB catalog asset: refreshes ``documents``, ``dropped`` and ``funnel`` and shows the funnel."""

import dagster as dg

from assets.dedup import curated_documents
from assets.resources import CorpusStorage, DUCKDB_POOL
from corpus import catalog
from corpus.plots import as_markdown_image, funnel_plot


@dg.asset(group_name="catalog", deps=[curated_documents], kinds={"duckdb"}, pool=DUCKDB_POOL)
def corpus_catalog(context: dg.AssetExecutionContext, corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """``catalog.duckdb``: every curated document, every drop with its reason, the funnel per stage."""
    layout = corpus_storage.layout()
    counts = catalog.refresh(layout)
    con = catalog.connect(layout, read_only=True)
    funnel = con.execute("SELECT * FROM funnel").fetchall()
    reasons = con.execute("SELECT stage, reason, count(*) FROM dropped GROUP BY ALL ORDER BY 3 DESC LIMIT 30").fetchall()
    con.close()
    funnel_md = "| source | stage | docs in | docs out | chars in | chars out |\n|---|---|---|---|---|---|\n" + "\n".join(
        f"| {s} | {st} | {a:,} | {b:,} | {c:,} | {d:,} |" for s, st, a, b, c, d in funnel)
    reasons_md = "| stage | reason | docs |\n|---|---|---|\n" + "\n".join(f"| {a} | {b} | {c:,} |" for a, b, c in reasons)
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(layout.catalog)),
        "documents": counts["documents"],
        "dropped": counts["dropped"],
        "funnel": dg.MetadataValue.md(funnel_md),
        "funnel_plot": dg.MetadataValue.md(as_markdown_image(funnel_plot(funnel))),
        "top_drop_reasons": dg.MetadataValue.md(reasons_md),
    })
