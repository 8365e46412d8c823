"""Blocking quality checks: a failed check (severity ERROR) stops the assets downstream of it in the run.

- ``curated_documents``: ids are unique and no text is empty (DuckDB over the active recipe's curated stage,
  ``docs/near_dedup/*/*.parquet`` under llama1, ``docs/semantic_dedup/`` under llama3);
- ``exact_dedup``: the fraction of documents removed stays within configurable bounds (its funnel parts);
- ``curated_documents``: each source's documents are in its allowed languages (``CURATED_LANGUAGES``),
  and any per-language share bounds set in config hold;
- ``corpus_catalog``: the catalog's views exist and agree with the funnel;
- every filter stage, per source (``<source>_survives_<stage>``): the stage did not remove every document
  of an input of at least ``STAGE_EMPTIED_MIN_DOCS_IN`` documents (from the funnel parts);
- ``token_shards``: every shard matches its manifest entry (size, sha256), and the achieved shares are
  within ``MIXTURE_SHARE_TOLERANCE_PCT`` points of the shares table's targets spread over the sources
  present, the missing ones listed; a source with raw input and no tokens fails a WARN check that names
  the stage where its documents went.

A check that finds nothing to judge (no parts, zero rows, no manifest) fails: an empty corpus is never
green. The checks read only the documented outputs (the part trees, their funnel, ``catalog.duckdb`` and
the manifest); assets are named by key, so this module imports no asset definitions.
"""

from typing import Dict, List

import dagster as dg
import pydantic

from assets.resources import CorpusStorage
from corpus import catalog, funnel, presets
from corpus.mixture import share_report
from corpus.recipe import CURATED_LANGUAGES, MIXTURE_SHARE_TOLERANCE_PCT, SOURCES, STAGE_EMPTIED_MIN_DOCS_IN
from corpus.storage import Layout
from corpus.shards import manifest_problems, read_manifest

EXACT_STAGE = "exact_dedup"


def _nothing_to_check(why: str, **metadata) -> dg.AssetCheckResult:
    """A gate with nothing to judge fails: zero rows are never a pass."""
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR, description=f"nothing to check: {why}",
                               metadata=metadata)


def _query(layout: Layout, sql: str, params: list | None = None) -> list[tuple]:
    con = catalog.connect(layout, database=":memory:")  # reads the part trees wherever the data root is
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@dg.asset_check(asset="curated_documents", blocking=True,
                description="Every curated document has a unique id and non-empty text.")
def curated_ids_unique_and_text_present(corpus_storage: CorpusStorage) -> dg.AssetCheckResult:
    layout, stage = corpus_storage.layout(), corpus_storage.preset().curated_stage
    pattern = layout.parts_pattern("docs", stage)
    if pattern is None:
        return _nothing_to_check(f"no curated parts under docs/{stage}/", documents=0)
    docs, distinct, empty = _query(
        layout,
        "SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE text IS NULL OR length(trim(text)) = 0) "
        "FROM read_parquet(?)", [pattern])[0]
    if docs == 0:
        return _nothing_to_check(f"the curated parts under docs/{stage}/ hold 0 documents", documents=0)
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
    if docs_in == 0:
        return _nothing_to_check(f"the {EXACT_STAGE} funnel counts 0 documents in", docs_in=0, docs_out=0)
    removed = (docs_in - docs_out) / docs_in
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
    agreement = catalog.funnel_agreement(layout, corpus_storage.preset().curated_stage)
    if agreement.missing_views:
        return dg.AssetCheckResult(passed=False, description=f"missing view(s): {', '.join(agreement.missing_views)}")
    if agreement.documents == 0:
        return _nothing_to_check("the catalog's documents view has 0 rows", documents=0, dropped=agreement.dropped)
    return dg.AssetCheckResult(
        passed=not agreement.problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(agreement.problems[:10]) or None,
        metadata={"documents": agreement.documents, "dropped": agreement.dropped, "mismatches": len(agreement.problems)},
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
    layout, stage = corpus_storage.layout(), corpus_storage.preset().curated_stage
    pattern = layout.parts_pattern("docs", stage)
    rows = _query(layout, "SELECT source, coalesce(lang, ''), count(*) FROM read_parquet(?) GROUP BY ALL ORDER BY ALL",
                  [pattern]) if pattern else []
    if not rows:
        return _nothing_to_check(f"no curated documents under docs/{stage}/")
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
                description="Achieved token shares are within the tolerance (percentage points) of the shares table's "
                            "targets spread over the sources present; missing sources are listed with their full target.")
def mixture_shares_within_target(config: ShareTolerance, corpus_storage: CorpusStorage) -> dg.AssetCheckResult:
    manifest = read_manifest(corpus_storage.layout().shards)
    if manifest is None:
        return _nothing_to_check("no manifest.json")
    # the configured table (the recipe's LLaMA-1 shares by default) against the tokens the shards hold
    rows = share_report(manifest["target_shares_pct"], manifest["sources"])
    if not any(r["tokens"] for r in rows.values()):
        return _nothing_to_check("the train shards hold 0 tokens", shares=dg.MetadataValue.json(rows))
    gaps = {s: round(r["achieved_pct"] - r["planned_pct"], 4) for s, r in rows.items() if r["tokens"]}
    off = {s: g for s, g in gaps.items() if abs(g) > config.tolerance_pct}
    missing = {s: r["target_pct"] for s, r in rows.items() if r["missing"]}
    notes = [f"{s} {g:+.2f} pt" for s, g in sorted(off.items())]
    if missing:
        notes.append("missing (table target %, no tokens; the others' targets spread over the remaining "
                     f"{100 - sum(missing.values()):.1f}%): " + ", ".join(f"{s} {t:.1f}" for s, t in missing.items()))
    return dg.AssetCheckResult(
        passed=not off,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(notes) or None,
        metadata={"gap_pct_points": dg.MetadataValue.json(gaps), "tolerance_pct": config.tolerance_pct,
                  "shares": dg.MetadataValue.json(rows), "missing_sources": dg.MetadataValue.json(manifest["missing_sources"])},
    )


@dg.asset_check(asset="token_shards", blocking=False,
                description="Every source with raw input contributes tokens; one that does not is named with the stage "
                            "where its documents went (severity WARN).")
def sources_with_input_contribute_tokens(corpus_storage: CorpusStorage) -> dg.AssetCheckResult:
    layout = corpus_storage.layout()
    manifest = read_manifest(layout.shards)
    ingested = funnel.stage_counts(layout, funnel.INGEST_STAGE)
    with_input = [s for s in SOURCES if funnel.has_raw_input(ingested, s)]
    if manifest is None or not with_input:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN,
                                   description="nothing to check: " + ("no manifest.json" if manifest is None
                                                                       else "no source has raw input"))
    silent = funnel.why_missing(layout, [s for s in with_input if not manifest["sources"].get(s, 0)],
                                corpus_storage.preset().curated_stage)
    return dg.AssetCheckResult(
        passed=not silent,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(f"no tokens from {why}" for why in silent.values()) or None,
        metadata={"sources_with_input": ", ".join(with_input), "without_tokens": dg.MetadataValue.json(silent),
                  "tokens": dg.MetadataValue.json(manifest["sources"])},
    )


class StageSurvivalBounds(dg.Config):
    """A stage that removes every document of a source's input of at least ``min_docs_in`` documents fails
    its gate (``<source>_survives_<stage>``); below the bound an empty output is allowed. Set it in run
    config under ``ops: <asset>_survival: config:``, e.g. ``cc_language_id_survival``."""

    min_docs_in: int = pydantic.Field(default=STAGE_EMPTIED_MIN_DOCS_IN, ge=1)


def stage_emptied_problem(count: funnel.StageCount | None, min_docs_in: int) -> str | None:
    """Why a stage's output for one source fails its gate; None when it passes."""
    if count is None or not count.emptied or count.docs_in < min_docs_in:
        return None
    return f"{count.describe()}: every document of an input of {count.docs_in} (>= {min_docs_in}) removed"


def _survival_check(asset: str, stage: str, sources: tuple[str, ...]) -> dg.AssetChecksDefinition:
    specs = [dg.AssetCheckSpec(f"{source}_survives_{stage}", asset=asset, blocking=True,
                               description=f"Stage {stage} keeps at least one {source} document of a non-trivial input.")
             for source in sources]

    @dg.multi_asset_check(specs=specs, name=f"{asset}_survival")
    def survival(config: StageSurvivalBounds, corpus_storage: CorpusStorage):
        preset = corpus_storage.preset()
        counts = funnel.stage_counts(corpus_storage.layout(), stage, sources if len(sources) == 1 else None)
        for source in sources:
            if not preset.is_active(source, stage):  # nothing to judge: the recipe does not run it
                yield dg.AssetCheckResult(
                    asset_key=asset, check_name=f"{source}_survives_{stage}", passed=True,
                    severity=dg.AssetCheckSeverity.ERROR,
                    description=f"skipped: recipe {preset.name} does not run {stage} on {source}",
                    metadata={"stage": stage, "source": source, "skipped": f"recipe {preset.name}"})
                continue
            count = counts.get((source, stage))
            problem = stage_emptied_problem(count, config.min_docs_in)
            yield dg.AssetCheckResult(
                asset_key=asset, check_name=f"{source}_survives_{stage}", passed=problem is None,
                severity=dg.AssetCheckSeverity.ERROR, description=problem,
                metadata={"stage": stage, "source": source, "docs_in": count.docs_in if count else 0,
                          "docs_out": count.docs_out if count else 0, "min_docs_in": config.min_docs_in,
                          "top_drop_reasons": dg.MetadataValue.json(dict(count.top_reasons) if count else {})})

    return survival


def _stage_row(stage: str) -> tuple[str, str, tuple[str, ...]]:
    return presets.STAGE_ASSETS[stage], stage, presets.possible_sources(stage)


# the asset that writes each stage (corpus.presets.ALL_STAGES) and the sources that may go through it
# (a stage the run's recipe does not run on a source passes its gate as skipped)
STAGE_ASSETS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    *((f"{source}_documents", funnel.INGEST_STAGE, (source,)) for source in SOURCES),
    *map(_stage_row, ("url_filter", "line_dedup", "langid", "gopher", "c4_rules", "fineweb_rules", "perplexity",
                      "wikiref", "quality_classifier", EXACT_STAGE, "near_dedup", "semantic_dedup")),
)
stage_survival_checks = [_survival_check(*row) for row in STAGE_ASSETS]
