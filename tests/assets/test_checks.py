"""The blocking quality checks, in process on the real C4 and CommonCrawl samples: a failing check stops
what is downstream, and a check with nothing to judge fails."""
import json
import shutil
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets import checks
from assets.catalog import corpus_catalog, curated_documents
from assets.cc_language_id import cc_language_id
from assets.cc_line_dedup import cc_line_dedup
from assets.dedup import exact_dedup, near_dedup, near_dup_removals_path
from assets.resources import CorpusStorage, RawInputs
from assets.sources import ingest_assets
from corpus import presets
from corpus.catalog import STAGE_ORDER
from corpus import catalog
from corpus.funnel import StageCount
from corpus.recipe import MIXTURE_SHARES_PCT, SOURCES
from corpus.schema import DOCUMENT_SCHEMA
from corpus.storage import Layout, write_table_atomic

c4_documents = next(a for a in ingest_assets if a.key == dg.AssetKey("c4_documents"))
commoncrawl_documents = next(a for a in ingest_assets if a.key == dg.AssetKey("commoncrawl_documents"))
SURVIVAL = {c.node_def.name: c for c in checks.stage_survival_checks}
CHECKS = [checks.curated_ids_unique_and_text_present, checks.curated_languages_within_bounds,
          checks.exact_dedup_rate_within_bounds, checks.catalog_agrees_with_funnel]


def _resources(data: Path, raw: Path) -> dict:
    return {"corpus_storage": CorpusStorage(data_root=str(data)), "raw_inputs": RawInputs(raw_dir=str(raw))}


def _evaluations(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def _materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


@pytest.fixture(scope="module")
def exact_deduped(tmp_path_factory, samples_dir) -> Path:
    """c4 ingested and exact-deduplicated; the near-dup removals (the contract file) empty."""
    data = tmp_path_factory.mktemp("checks") / "data"
    result = dg.materialize([c4_documents, exact_dedup, checks.exact_dedup_rate_within_bounds],
                            resources=_resources(data, samples_dir))
    assert result.success and _evaluations(result) == {"exact_dedup_rate_within_bounds": True}
    empty = pa.table({"id": pa.array([], pa.string()), "source": pa.array([], pa.string()),
                      "kept_id": pa.array([], pa.string())})
    write_table_atomic(near_dup_removals_path(Layout(data)), empty)
    return data


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_clean_curated_documents_pass_and_the_catalog_materializes(exact_deduped, tmp_path, samples_dir):
    data = _copy(exact_deduped, tmp_path / "data")
    result = dg.materialize([near_dedup, curated_documents, corpus_catalog, *CHECKS], resources=_resources(data, samples_dir),
                            selection=[near_dedup, curated_documents, corpus_catalog])
    assert result.success
    assert _materialized(result) == {"near_dedup", "curated_documents", "corpus_catalog"}
    near, curated = (result.asset_materializations_for_node(n)[0].metadata for n in ("near_dedup", "curated_documents"))
    assert (curated["recipe"].value, curated["curated_stage"].value) == ("llama1", "near_dedup")
    assert curated["dagster/row_count"].value == near["docs_out"].value > 0
    assert curated["data_files"].value == str(data / "docs" / "near_dedup" / "*" / "*.parquet")
    assert _evaluations(result) == {"curated_ids_unique_and_text_present": True, "curated_languages_within_bounds": True,
                                    "catalog_agrees_with_funnel": True}


def test_injected_duplicate_ids_fail_the_check_and_block_the_catalog(exact_deduped, tmp_path, samples_dir):
    data = _copy(exact_deduped, tmp_path / "data")
    part = sorted((data / "docs" / "exact_dedup" / "c4").glob("*.parquet"))[0]
    table = pq.read_table(part)
    # the same document twice: the curated part carries the duplicate id through
    pq.write_table(pa.concat_tables([table, table.slice(0, 2)]).replace_schema_metadata(table.schema.metadata), part)

    result = dg.materialize([near_dedup, curated_documents, corpus_catalog, *CHECKS], resources=_resources(data, samples_dir),
                            selection=[near_dedup, curated_documents, corpus_catalog], raise_on_error=False)
    assert _evaluations(result) == {"curated_ids_unique_and_text_present": False, "curated_languages_within_bounds": True}
    [evaluation] = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["distinct_ids"].value == evaluation.metadata["documents"].value - 2
    assert _materialized(result) == {"near_dedup", "curated_documents"}  # corpus_catalog never ran
    assert not result.success
    assert not (data / "catalog.duckdb").exists()


def test_dedup_rate_outside_bounds_fails(tmp_path, samples_dir):
    raw = tmp_path / "raw"
    (raw / "c4").mkdir(parents=True)
    sample = samples_dir / "c4" / "c4-sample.01.json.gz"
    for name in ("c4-sample.01.json.gz", "copy-of-01.json.gz"):  # one file ingested twice: half are exact dups
        shutil.copy(sample, raw / "c4" / name)
    data = tmp_path / "data"
    run_config = {"ops": {"exact_dedup_exact_dedup_rate_within_bounds": {"config": {"max_removed_fraction": 0.4}}}}
    result = dg.materialize([c4_documents, exact_dedup, checks.exact_dedup_rate_within_bounds], run_config=run_config,
                            resources=_resources(data, raw), raise_on_error=False)
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.metadata["removed_fraction"].value == 0.5
    assert "outside [0.0, 0.4]" in evaluation.description


def test_language_bounds_name_the_sources_and_languages_outside_them():
    counts = {"wikipedia": {"en": 106, "fr": 3, "ja": 1}, "commoncrawl": {"en": 50}, "c4": {"": 30}}
    assert checks.language_bound_problems(counts, checks.LanguageBounds()) == [
        "wikipedia: 1 of 110 documents outside the allowed languages (ja 1)"]
    loose = checks.LanguageBounds(max_outside_fraction=0.01, share_bounds={"wikipedia": {"en": [0.0, 0.9]}})
    assert checks.language_bound_problems(counts, loose) == ["wikipedia: en share 0.964 outside [0.0, 0.9]"]


def test_curated_documents_outside_their_languages_block_the_catalog(exact_deduped, tmp_path, samples_dir):
    # the C4 reader does not identify languages: bounding c4 to English makes every document "outside"
    data = _copy(exact_deduped, tmp_path / "data")
    run_config = {"ops": {"curated_documents_curated_languages_within_bounds": {"config": {"allowed": {"c4": ["en"]}}}}}
    result = dg.materialize([near_dedup, curated_documents, corpus_catalog, *CHECKS], resources=_resources(data, samples_dir),
                            selection=[near_dedup, curated_documents, corpus_catalog], run_config=run_config, raise_on_error=False)
    assert _evaluations(result) == {"curated_ids_unique_and_text_present": True, "curated_languages_within_bounds": False}
    [failed] = [e for e in result.get_asset_check_evaluations() if not e.passed]
    docs = failed.metadata["languages"].value["c4"][""]
    assert docs > 0 and failed.description == f"c4: {docs} of {docs} documents outside the allowed languages (unidentified {docs})"
    assert _materialized(result) == {"near_dedup", "curated_documents"} and not result.success


def test_the_catalog_check_fails_when_a_view_is_missing(exact_deduped, tmp_path, samples_dir):
    import duckdb

    data = _copy(exact_deduped, tmp_path / "data")
    assert dg.materialize([near_dedup, curated_documents, corpus_catalog], resources=_resources(data, samples_dir)).success
    con = duckdb.connect(str(data / "catalog.duckdb"))
    con.execute("DROP VIEW dropped")
    con.close()
    result = checks.catalog_agrees_with_funnel(corpus_storage=CorpusStorage(data_root=str(data)))
    assert not result.passed and "dropped" in result.description


def test_the_checks_are_blocking_and_part_of_build_corpus():
    from pipelines import defs

    keys = defs.resolve_job_def("build_corpus").asset_layer.asset_graph.asset_check_keys
    names = {k.name for k in keys}
    assert {"curated_ids_unique_and_text_present", "curated_languages_within_bounds", "exact_dedup_rate_within_bounds",
            "catalog_agrees_with_funnel", "shard_manifest_checksums_valid", "mixture_shares_within_target"} <= names
    assert {f"{s}_survives_ingest" for s in SOURCES} | {f"{s}_survives_{st}" for s in SOURCES for st in ("exact_dedup", "near_dedup")} \
        | {f"commoncrawl_survives_{st}" for st in ("line_dedup", "langid", "perplexity", "wikiref")} <= names
    # every stage whose asset is in the graph has its survival gate (both recipes' stages)
    executable = {k.to_user_string() for k in defs.resolve_job_def("build_corpus").asset_layer.selected_asset_keys}
    defined = {st for st in presets.ALL_STAGES if st == "ingest" or presets.STAGE_ASSETS[st] in executable}
    assert {stage for _, stage, _ in checks.STAGE_ASSETS} == defined >= set(STAGE_ORDER)
    assert "sources_with_input_contribute_tokens" in names
    for check in [*CHECKS, checks.shard_manifest_checksums_valid, checks.mixture_shares_within_target,
                  *checks.stage_survival_checks]:
        assert all(spec.blocking for spec in check.check_specs)


# --- checks that find nothing to judge fail ------------------------------------------------------------

def test_every_check_fails_on_an_empty_data_root(tmp_path):
    storage = CorpusStorage(data_root=str(tmp_path / "data"))
    results = {
        "ids": checks.curated_ids_unique_and_text_present(corpus_storage=storage),
        "languages": checks.curated_languages_within_bounds(config=checks.LanguageBounds(), corpus_storage=storage),
        "dedup": checks.exact_dedup_rate_within_bounds(config=checks.DedupRateBounds(), corpus_storage=storage),
        "catalog": checks.catalog_agrees_with_funnel(corpus_storage=storage),
        "shards": checks.shard_manifest_checksums_valid(corpus_storage=storage),
        "shares": checks.mixture_shares_within_target(config=checks.ShareTolerance(), corpus_storage=storage),
        "tokens": checks.sources_with_input_contribute_tokens(corpus_storage=storage),
    }
    assert {k: r.passed for k, r in results.items()} == dict.fromkeys(results, False)
    assert {k: r.description for k, r in results.items() if k not in ("catalog", "shards")} == {
        "ids": "nothing to check: no curated parts under docs/near_dedup/",
        "languages": "nothing to check: no curated documents under docs/near_dedup/",
        "dedup": "nothing to check: the exact_dedup funnel counts 0 documents in",
        "shares": "nothing to check: no manifest.json",
        "tokens": "nothing to check: no manifest.json",
    }
    assert results["tokens"].severity == dg.AssetCheckSeverity.WARN
    assert all(r.severity == dg.AssetCheckSeverity.ERROR for k, r in results.items() if k != "tokens")


def test_curated_parts_with_zero_rows_fail_the_curated_and_catalog_checks(tmp_path):
    data = tmp_path / "data"
    layout = Layout(data)
    write_table_atomic(layout.part("docs", "near_dedup", "c4", "part-0000"), DOCUMENT_SCHEMA.empty_table())
    catalog.refresh(layout)
    storage = CorpusStorage(data_root=str(data))
    ids = checks.curated_ids_unique_and_text_present(corpus_storage=storage)
    languages = checks.curated_languages_within_bounds(config=checks.LanguageBounds(), corpus_storage=storage)
    views = checks.catalog_agrees_with_funnel(corpus_storage=storage)
    assert (ids.passed, languages.passed, views.passed) == (False, False, False)
    assert ids.description == "nothing to check: the curated parts under docs/near_dedup/ hold 0 documents"
    assert languages.description == "nothing to check: no curated documents under docs/near_dedup/"
    assert views.description == "nothing to check: the catalog's documents view has 0 rows"


def test_the_curated_checks_read_the_active_recipes_curated_stage(tmp_path):
    """Under llama3 the curated corpus is semantic dedup's output, not near dedup's (which llama1 curates)."""
    data = tmp_path / "data"
    write_table_atomic(Layout(data).part("docs", "near_dedup", "c4", "part-0000"), DOCUMENT_SCHEMA.empty_table())
    llama3 = CorpusStorage(data_root=str(data), recipe="llama3")
    ids = checks.curated_ids_unique_and_text_present(corpus_storage=llama3)
    languages = checks.curated_languages_within_bounds(config=checks.LanguageBounds(), corpus_storage=llama3)
    assert ids.description == "nothing to check: no curated parts under docs/semantic_dedup/"
    assert languages.description == "nothing to check: no curated documents under docs/semantic_dedup/"


# --- a stage that removes every document fails its gate ---------------------------------------------

def test_a_stage_emptied_fails_only_from_the_bound_up():
    emptied = StageCount("arxiv", "ingest", 20, 0, (("too_large", 12), ("parse_error", 8)))
    assert checks.stage_emptied_problem(emptied, 20) == (
        "stage ingest: 20 arxiv documents in, 0 out (top drop reasons: too_large 12, parse_error 8): "
        "every document of an input of 20 (>= 20) removed")
    assert checks.stage_emptied_problem(emptied, 21) is None  # below the bound: a small sample may empty
    assert checks.stage_emptied_problem(StageCount("arxiv", "ingest", 20, 1), 20) is None
    assert checks.stage_emptied_problem(None, 20) is None  # the source never reached the stage


def _cc_langid(data: Path, samples_dir: Path, run_config: dict):
    return dg.materialize([commoncrawl_documents, cc_line_dedup, cc_language_id, *SURVIVAL.values()],
                          selection=[commoncrawl_documents, cc_line_dedup, cc_language_id],
                          resources=_resources(data, samples_dir), run_config=run_config, raise_on_error=False)


NO_ENGLISH = {"ops": {"cc_language_id": {"config": {"keep_languages": ["tlh"]}}}}


@pytest.fixture(scope="module")
def cc_without_english(tmp_path_factory, samples_dir):
    """The real CommonCrawl samples through language ID keeping only Klingon: every page is dropped."""
    data = tmp_path_factory.mktemp("cc_tlh") / "data"
    return data, _cc_langid(data, samples_dir, NO_ENGLISH)


def test_a_language_stage_that_drops_every_english_page_fails_the_run(cc_without_english):
    data, result = cc_without_english
    assert not result.success
    evaluations = _evaluations(result)
    assert evaluations == {"commoncrawl_survives_ingest": True, "commoncrawl_survives_line_dedup": True,
                           "commoncrawl_survives_langid": False}
    [failed] = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert failed.asset_key == dg.AssetKey("cc_language_id") and failed.severity == dg.AssetCheckSeverity.ERROR
    funnel = pq.read_table(data / "funnel" / "langid" / "commoncrawl")
    docs_in = pc_sum(funnel, "docs_in")
    assert docs_in >= 20 and pc_sum(funnel, "docs_out") == 0
    assert failed.metadata["docs_in"].value == docs_in and failed.metadata["docs_out"].value == 0
    reasons = failed.metadata["top_drop_reasons"].value
    assert list(reasons)[0] == "lang=en" and sum(reasons.values()) <= docs_in
    assert failed.description == (
        f"stage langid: {docs_in} commoncrawl documents in, 0 out (top drop reasons: "
        + ", ".join(f"{r} {n}" for r, n in reasons.items())
        + f"): every document of an input of {docs_in} (>= 20) removed")


def test_the_bound_of_the_stage_gate_is_set_in_run_config(cc_without_english, tmp_path, samples_dir):
    data = _copy(cc_without_english[0], tmp_path / "data")
    loose = {"ops": {**NO_ENGLISH["ops"], "cc_language_id_survival": {"config": {"min_docs_in": 100_000}}}}
    result = _cc_langid(data, samples_dir, loose)  # the parts are current: only the checks do work
    assert result.success and _evaluations(result)["commoncrawl_survives_langid"]


def pc_sum(table: pa.Table, column: str) -> int:
    return sum(table.column(column).to_pylist())


# --- the mixture against the shares table ---------------------------------------------------------

def _write_manifest(data: Path, shares_pct: dict, tokens: dict) -> None:
    """The manifest fields the share checks read (token_shards writes them with the rest)."""
    shards = Layout(data).shards
    shards.mkdir(parents=True, exist_ok=True)
    (shards / "manifest.json").write_text(json.dumps({"target_shares_pct": shares_pct, "sources": tokens,
                                                      "missing_sources": {}}))


def test_shares_off_the_table_fail_and_missing_sources_are_listed(tmp_path):
    data = tmp_path / "data"
    storage = CorpusStorage(data_root=str(data))
    _write_manifest(data, {"c4": 15.0, "wikipedia": 4.5, "commoncrawl": 67.0}, {"c4": 500, "wikipedia": 500})
    result = checks.mixture_shares_within_target(config=checks.ShareTolerance(), corpus_storage=storage)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert result.description == ("c4 -26.92 pt; wikipedia +26.92 pt; missing (table target %, no tokens; the others' "
                                  "targets spread over the remaining 22.5%): commoncrawl 77.5")
    # on target for the sources present: passes, and still names the missing one with its full target
    _write_manifest(data, {"c4": 15.0, "wikipedia": 5.0, "commoncrawl": 80.0}, {"c4": 750, "wikipedia": 250})
    result = checks.mixture_shares_within_target(config=checks.ShareTolerance(), corpus_storage=storage)
    assert result.passed and result.description == ("missing (table target %, no tokens; the others' targets "
                                                     "spread over the remaining 20.0%): commoncrawl 80.0")
    assert result.metadata["shares"].value["commoncrawl"] == {"target_pct": 80.0, "planned_pct": 0.0,
                                                              "achieved_pct": 0.0, "tokens": 0, "missing": True}


def test_a_source_with_raw_input_and_no_tokens_warns_with_the_stage_that_took_its_documents(cc_without_english, tmp_path):
    data = _copy(cc_without_english[0], tmp_path / "data")
    _write_manifest(data, MIXTURE_SHARES_PCT, {"c4": 1000})
    storage = CorpusStorage(data_root=str(data))
    warning = checks.sources_with_input_contribute_tokens(corpus_storage=storage)
    assert not warning.passed and warning.severity == dg.AssetCheckSeverity.WARN
    langid = pq.read_table(data / "funnel" / "langid" / "commoncrawl")
    assert warning.description.startswith(
        f"no tokens from commoncrawl: every document dropped at stage langid: {pc_sum(langid, 'docs_in')} commoncrawl "
        "documents in, 0 out (top drop reasons: lang=en ")
    assert warning.metadata["sources_with_input"].text == "commoncrawl"
    shares = checks.mixture_shares_within_target(config=checks.ShareTolerance(), corpus_storage=storage)
    assert shares.passed and "commoncrawl 67.0" in shares.description
