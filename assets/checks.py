"""Blocking quality checks: a failed check (severity ERROR) stops the assets downstream of it in the run.

- ``curated_documents``: ids are unique and no text is empty (DuckDB over ``docs/near_dedup/*/*.parquet``);
- ``exact_dedup``: the fraction of documents removed stays within configurable bounds (its funnel parts);
- ``curated_documents``: each source's documents are in its allowed languages (``CURATED_LANGUAGES``),
  and any per-language share bounds set in config hold;
- ``corpus_catalog``: the catalog's views exist and agree with the funnel;
- ``token_shards``: every shard matches its manifest entry (size, sha256), and the achieved shares are
  within ``MIXTURE_SHARE_TOLERANCE_PCT`` points of the targets.

The checks read only the documented outputs (the part trees and ``catalog.duckdb``); assets are named
by key, so this module imports no asset definitions.
"""

from typing import Dict, List

import dagster as dg

from assets.resources import CorpusStorage
from corpus import catalog
from corpus.catalog import CURATED_STAGE
from corpus.recipe import CURATED_LANGUAGES, MIXTURE_SHARE_TOLERANCE_PCT
from corpus.storage import Layout
from corpus.tokens import manifest_problems, read_manifest

EXACT_STAGE = "exact_dedup"
CATALOG_VIEWS = ("documents", "dropped", "funnel")


def _query(layout: Layout, sql: str, params: list | None = None) -> list[tuple]:
    con = catalog.connect(layout, database=":memory:")  # reads the part trees wherever the data root is
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@dg.asset_check(asset="curated_documents", blocking=True,
                description="Every curated document has a unique id and non-empty text.")
def curated_ids_unique_and_text_present(corpus_storage: CorpusStorage) -> dg.AssetCheckResult:
    layout = corpus_storage.layout()
    pattern = layout.parts_pattern("docs", CURATED_STAGE)
    if pattern is None:
        return dg.AssetCheckResult(passed=True, metadata={"documents": 0, "note": "no curated parts"})
    docs, distinct, empty = _query(
        layout,
        "SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE text IS NULL OR length(trim(text)) = 0) "
        "FROM read_parquet(?)", [pattern])[0]
    examples = _query(layout, "SELECT id, count(*) AS n FROM read_parquet(?) GROUP BY id HAVING n > 1 ORDER BY n DESC, id LIMIT 5",
                      [pattern]) if distinct != docs else []
    return dg.AssetCheckResult(
        passed=docs == distinct and empty == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        description=None if docs == distinct and empty == 0 else
        f"{docs - distinct} duplicate id(s), {empty} empty text(s)",
        metadata={"documents": docs, "distinct_ids": distinct, "empty_texts": empty,
                  "duplicate_examples": ", ".join(f"{i} x{n}" for i, n in examples) or "none"},
    )


class DedupRateBounds(dg.Config):
    """Bounds on the fraction of documents exact dedup removes; outside them something upstream is off
    (a source ingested twice, a broken normaliser). Defaults: at most half the corpus. Set them in run
    config under `ops: exact_dedup_exact_dedup_rate_within_bounds: config:` (the check's op name)."""

    min_removed_fraction: float = 0.0
    max_removed_fraction: float = 0.5


@dg.asset_check(asset="exact_dedup", blocking=True,
                description="The fraction of documents exact dedup removes is within bounds.")
def exact_dedup_rate_within_bounds(config: DedupRateBounds, corpus_storage: CorpusStorage) -> dg.AssetCheckResult:
    layout = corpus_storage.layout()
    pattern = layout.parts_pattern("funnel", EXACT_STAGE)
    docs_in, docs_out = _query(
        layout,
        "SELECT coalesce(sum(docs_in), 0)::BIGINT, coalesce(sum(docs_out), 0)::BIGINT FROM read_parquet(?)",
        [pattern])[0] if pattern else (0, 0)
    removed = (docs_in - docs_out) / docs_in if docs_in else 0.0
    ok = config.min_removed_fraction <= removed <= config.max_removed_fraction
    return dg.AssetCheckResult(
        passed=ok,
        severity=dg.AssetCheckSeverity.ERROR,
        description=None if ok else f"removed fraction {removed:.3f} outside "
                                    f"[{config.min_removed_fraction}, {config.max_removed_fraction}]",
        metadata={"docs_in": docs_in, "docs_out": docs_out, "removed_fraction": dg.MetadataValue.float(round(removed, 4)),
                  "bounds": f"[{config.min_removed_fraction}, {config.max_removed_fraction}]"},
    )


@dg.asset_check(asset="corpus_catalog", blocking=True,
                description="catalog.duckdb has the documents/dropped/funnel views and they agree with the funnel.")
def catalog_agrees_with_funnel(corpus_storage: CorpusStorage) -> dg.AssetCheckResult:
    layout = corpus_storage.layout()
    if not layout.catalog.exists():
        return dg.AssetCheckResult(passed=False, description=f"{layout.catalog} does not exist")
    con = catalog.connect(layout, read_only=True)
    try:
        present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        missing = [v for v in CATALOG_VIEWS if v not in present]
        if missing:
            return dg.AssetCheckResult(passed=False, description=f"missing view(s): {', '.join(missing)}")
        # per source: curated rows == the funnel's docs out of the last stage
        docs_mismatch = con.execute(f"""
            SELECT coalesce(d.source, f.source), coalesce(d.n, 0), coalesce(f.n, 0)
            FROM (SELECT source, count(*) AS n FROM documents GROUP BY source) d
            FULL JOIN (SELECT source, sum(docs_out) AS n FROM funnel WHERE stage = '{CURATED_STAGE}' GROUP BY source) f
            ON d.source = f.source WHERE coalesce(d.n, 0) <> coalesce(f.n, 0) ORDER BY 1""").fetchall()
        # per source and stage: rows in `dropped` == docs in - docs out
        drop_mismatch = con.execute("""
            SELECT coalesce(d.source, f.source), coalesce(d.stage, f.stage), coalesce(d.n, 0), coalesce(f.n, 0)
            FROM (SELECT source, stage, count(*) AS n FROM dropped GROUP BY ALL) d
            FULL JOIN (SELECT source, stage, sum(docs_in - docs_out) AS n FROM funnel GROUP BY ALL) f
            ON d.source = f.source AND d.stage = f.stage WHERE coalesce(d.n, 0) <> coalesce(f.n, 0) ORDER BY 1, 2""").fetchall()
        documents = con.execute("SELECT count(*) FROM documents").fetchone()[0]
        dropped = con.execute("SELECT count(*) FROM dropped").fetchone()[0]
    finally:
        con.close()
    problems = [f"{s}: {a} documents vs funnel {b}" for s, a, b in docs_mismatch]
    problems += [f"{s}/{st}: {a} dropped rows vs funnel {b}" for s, st, a, b in drop_mismatch]
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(problems[:10]) or None,
        metadata={"documents": documents, "dropped": dropped, "mismatches": len(problems)},
    )


class LanguageBounds(dg.Config):
    """Per source, the languages its curated documents may be in (a document with no identified language
    counts as outside), the fraction allowed outside them, and optional per-language share bounds, e.g.
    ``share_bounds: {wikipedia: {en: [0.2, 1.0]}}``. Run config key: ``ops:
    curated_documents_curated_languages_within_bounds: config:``."""

    allowed: Dict[str, List[str]] = {s: list(langs) for s, langs in CURATED_LANGUAGES.items()}
    max_outside_fraction: float = 0.0
    share_bounds: Dict[str, Dict[str, List[float]]] = {}


def language_bound_problems(counts: Dict[str, Dict[str, int]], bounds: LanguageBounds) -> List[str]:
    """``counts``: documents per source and language (``""`` = not identified)."""
    problems = []
    for source, by_lang in sorted(counts.items()):
        total = sum(by_lang.values())
        if source in bounds.allowed and total:
            outside = {lang or "unidentified": n for lang, n in by_lang.items() if lang not in bounds.allowed[source]}
            if sum(outside.values()) / total > bounds.max_outside_fraction:
                problems.append(f"{source}: {sum(outside.values())} of {total} documents outside the allowed languages "
                                f"({', '.join(f'{k} {v}' for k, v in sorted(outside.items()))})")
        for lang, (low, high) in sorted(bounds.share_bounds.get(source, {}).items()):
            share = by_lang.get(lang, 0) / total if total else 0.0
            if not low <= share <= high:
                problems.append(f"{source}: {lang} share {share:.3f} outside [{low}, {high}]")
    return problems


@dg.asset_check(asset="curated_documents", blocking=True,
                description="Each source's curated documents are in its allowed languages, within the configured shares.")
def curated_languages_within_bounds(config: LanguageBounds, corpus_storage: CorpusStorage) -> dg.AssetCheckResult:
    layout = corpus_storage.layout()
    pattern = layout.parts_pattern("docs", CURATED_STAGE)
    rows = _query(layout, "SELECT source, coalesce(lang, ''), count(*) FROM read_parquet(?) GROUP BY ALL ORDER BY ALL",
                  [pattern]) if pattern else []
    counts: Dict[str, Dict[str, int]] = {}
    for source, lang, n in rows:
        counts.setdefault(source, {})[lang] = n
    problems = language_bound_problems(counts, config)
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(problems) or None,
        metadata={"languages": dg.MetadataValue.json(counts), "allowed": dg.MetadataValue.json(config.allowed)},
    )


@dg.asset_check(asset="token_shards", blocking=True,
                description="Every shard file matches its manifest entry (size, sha256) and no unlisted shard lies beside them.")
def shard_manifest_checksums_valid(corpus_storage: CorpusStorage) -> dg.AssetCheckResult:
    folder = corpus_storage.layout().shards
    manifest = read_manifest(folder)
    problems = manifest_problems(folder, manifest)
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(problems[:10]) or None,
        metadata={"shards": len((manifest or {}).get("shards", [])), "problems": len(problems)},
    )


class ShareTolerance(dg.Config):
    tolerance_pct: float = MIXTURE_SHARE_TOLERANCE_PCT


@dg.asset_check(asset="token_shards", blocking=True,
                description="Achieved token shares are within the tolerance (percentage points) of the renormalised targets.")
def mixture_shares_within_target(config: ShareTolerance, corpus_storage: CorpusStorage) -> dg.AssetCheckResult:
    manifest = read_manifest(corpus_storage.layout().shards)
    if manifest is None:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR, description="no manifest.json")
    gaps = {s: round(100 * (manifest["achieved_shares"].get(s, 0.0) - w), 4)
            for s, w in manifest["weights"].items() if w > 0}
    off = {s: g for s, g in gaps.items() if abs(g) > config.tolerance_pct}
    return dg.AssetCheckResult(
        passed=not off,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(f"{s} {g:+.2f} pt" for s, g in sorted(off.items())) or None,
        metadata={"gap_pct_points": dg.MetadataValue.json(gaps), "tolerance_pct": config.tolerance_pct},
    )
