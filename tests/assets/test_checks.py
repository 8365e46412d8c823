"""The blocking quality checks, in process on the real C4 samples: a failing check stops what is downstream."""
import shutil
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets import checks
from assets.catalog import corpus_catalog
from assets.dedup import curated_documents, exact_dedup, near_dup_removals_path
from assets.resources import CorpusStorage, RawInputs
from assets.sources import ingest_assets
from corpus.storage import Layout, write_table_atomic

c4_documents = next(a for a in ingest_assets if a.key == dg.AssetKey("c4_documents"))
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
    result = dg.materialize([curated_documents, corpus_catalog, *CHECKS], resources=_resources(data, samples_dir),
                            selection=[curated_documents, corpus_catalog])
    assert result.success
    assert _materialized(result) == {"curated_documents", "corpus_catalog"}
    assert _evaluations(result) == {"curated_ids_unique_and_text_present": True, "curated_languages_within_bounds": True,
                                    "catalog_agrees_with_funnel": True}


def test_injected_duplicate_ids_fail_the_check_and_block_the_catalog(exact_deduped, tmp_path, samples_dir):
    data = _copy(exact_deduped, tmp_path / "data")
    part = sorted((data / "docs" / "exact_dedup" / "c4").glob("*.parquet"))[0]
    table = pq.read_table(part)
    # the same document twice: the curated part carries the duplicate id through
    pq.write_table(pa.concat_tables([table, table.slice(0, 2)]).replace_schema_metadata(table.schema.metadata), part)

    result = dg.materialize([curated_documents, corpus_catalog, *CHECKS], resources=_resources(data, samples_dir),
                            selection=[curated_documents, corpus_catalog], raise_on_error=False)
    assert _evaluations(result) == {"curated_ids_unique_and_text_present": False, "curated_languages_within_bounds": True}
    [evaluation] = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["distinct_ids"].value == evaluation.metadata["documents"].value - 2
    assert _materialized(result) == {"curated_documents"}  # corpus_catalog never ran
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
    result = dg.materialize([curated_documents, corpus_catalog, *CHECKS], resources=_resources(data, samples_dir),
                            selection=[curated_documents, corpus_catalog], run_config=run_config, raise_on_error=False)
    assert _evaluations(result) == {"curated_ids_unique_and_text_present": True, "curated_languages_within_bounds": False}
    [failed] = [e for e in result.get_asset_check_evaluations() if not e.passed]
    docs = failed.metadata["languages"].value["c4"][""]
    assert docs > 0 and failed.description == f"c4: {docs} of {docs} documents outside the allowed languages (unidentified {docs})"
    assert _materialized(result) == {"curated_documents"} and not result.success


def test_the_catalog_check_fails_when_a_view_is_missing(exact_deduped, tmp_path, samples_dir):
    import duckdb

    data = _copy(exact_deduped, tmp_path / "data")
    assert dg.materialize([curated_documents, corpus_catalog], resources=_resources(data, samples_dir)).success
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
    for check in [*CHECKS, checks.shard_manifest_checksums_valid, checks.mixture_shares_within_target]:
        assert all(spec.blocking for spec in check.check_specs)
