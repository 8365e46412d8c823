"""Invalid configuration fails before any work starts, with a message that says what and where.

Dagster's run-config schema checks types and field names (``DagsterInvalidConfigError``) but not ranges:
pydantic constraints on a ``Config`` are checked when the step builds its config object. The ingest
configs turn that into a ``dg.Failure(allow_retries=False)`` naming the field, so the ingest assets'
download retry policy does not repeat a config error (it used to, for ~1 minute)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import dagster as dg
import pytest

from assets.resources import CorpusStorage, RawInputs
from assets.sources import IngestConfig, ingest_assets, source_config
from corpus.inputs import expand_paths, load_manifest
from corpus.sources import reader

pytestmark = pytest.mark.timeout(60)


def _asset(source: str) -> dg.AssetsDefinition:
    return next(a for a in ingest_assets if a.key.path[-1] == f"{source}_documents")


def _materialize(source: str, tmp_path: Path, config: dict) -> None:
    raw = tmp_path / "raw"
    (raw / source).mkdir(parents=True, exist_ok=True)
    dg.materialize([_asset(source)], resources={"corpus_storage": CorpusStorage(data_root=str(tmp_path / "data")),
                                                "raw_inputs": RawInputs(raw_dir=str(raw))},
                   run_config={"ops": {f"{source}_documents": {"config": config}}})


def _nothing_written(tmp_path: Path) -> bool:
    return not any((tmp_path / "data" / tree).exists() for tree in ("docs", "dropped", "funnel"))


@pytest.mark.parametrize("source,field,value", [
    ("c4", "max_doc_bytes", -1),
    ("books", "max_doc_bytes", 0),
    ("stackexchange", "top_sites", 0),
])
def test_out_of_range_value_fails_at_step_start_naming_the_field_without_retries(tmp_path, source, field, value):
    started = time.monotonic()
    with pytest.raises(dg.Failure) as failure:
        _materialize(source, tmp_path, {field: value})
    assert time.monotonic() - started < 20  # not retried by the ingest RetryPolicy (3 retries, 5 s backoff)
    message = failure.value.description
    assert field in message and "greater than 0" in message and f"got {value}" in message
    assert _nothing_written(tmp_path)


def test_wrong_type_fails_run_config_validation_naming_the_path(tmp_path):
    with pytest.raises(dg.DagsterInvalidConfigError, match=r"ops:c4_documents:config:max_doc_bytes"):
        _materialize("c4", tmp_path, {"max_doc_bytes": "sixteen megabytes"})
    assert _nothing_written(tmp_path)


def test_unknown_config_field_fails_run_config_validation(tmp_path):
    with pytest.raises(dg.DagsterInvalidConfigError, match="max_doc_byte"):
        _materialize("c4", tmp_path, {"max_doc_byte": 10})


def test_missing_input_path_fails_naming_it_before_any_part_is_written(samples_dir, tmp_path):
    real = samples_dir / "c4" / "c4-sample.01.json.gz"
    missing = tmp_path / "nowhere" / "c4-missing.json.gz"
    started = time.monotonic()
    with pytest.raises(dg.Failure, match=str(missing)):
        _materialize("c4", tmp_path, {"inputs": [str(real), str(missing)]})
    assert time.monotonic() - started < 20
    assert _nothing_written(tmp_path)


def test_blank_input_entry_is_refused():
    with pytest.raises(dg.Failure, match=r"inputs\[1\] is empty"):
        IngestConfig(inputs=["/tmp", "  "])


def test_globs_and_urls_are_left_to_expand_paths():
    assert IngestConfig(inputs=["/nonexistent/*.json.gz", "https://example.org/a.json.gz"]).inputs


def test_expand_paths_names_every_missing_input(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"a\.json.*b\.json"):
        expand_paths([str(tmp_path / "a.json"), str(tmp_path / "b.json")], tmp_path / "cache")


def test_python_construction_gives_the_same_message():
    with pytest.raises(dg.Failure, match=r"IngestConfig_stackexchange.*top_sites: Input should be greater than 0 \(got -3\)"):
        source_config("stackexchange")(top_sites=-3)
    assert source_config("c4")().max_doc_bytes > 0 and source_config("stackexchange")().top_sites > 0


def test_manifest_with_an_unknown_source_fails_naming_it(tmp_path):
    manifest = tmp_path / "inputs.json"
    manifest.write_text(json.dumps({"files": [
        {"source": "c4", "relpath": "a.json.gz", "url": "https://example.org/a.json.gz"},
        {"source": "reddit", "relpath": "b.json.gz", "url": "https://example.org/b.json.gz"},
    ]}))
    with pytest.raises(ValueError, match=rf"{manifest}: unknown source 'reddit'"):
        load_manifest(manifest)


@pytest.mark.parametrize("relpath", ["../escape.json.gz", "/etc/passwd"])
def test_manifest_relpath_outside_the_cache_fails(tmp_path, relpath):
    manifest = tmp_path / "inputs.json"
    manifest.write_text(json.dumps({"files": [{"source": "c4", "relpath": relpath, "url": "https://example.org/x"}]}))
    with pytest.raises(ValueError, match="must stay inside the cache"):
        load_manifest(manifest)


def test_unknown_source_reader_fails_naming_it():
    with pytest.raises(ValueError, match="unknown source 'reddit'"):
        reader("reddit")


@pytest.mark.parametrize("config, message", [
    ({"shares_pct": {"c4": -1.0, "books": 50.0}}, "shares must be >= 0, got {'c4': -1.0}"),
    ({"shares_pct": {"cc": 67.0}}, "unknown source(s) ['cc']"),
    ({"shares_pct": {"c4": 0.0}}, "at least one share must be positive"),
])
def test_mixture_shares_are_checked_before_planning(tmp_path, config, message):
    from assets.tokens import mixture_asset

    with pytest.raises(dg.Failure) as failure:
        dg.materialize([mixture_asset], resources={"corpus_storage": CorpusStorage(data_root=str(tmp_path / "data"))},
                       run_config={"ops": {"mixture": {"config": config}}})
    assert "MixtureConfig" in failure.value.description and "shares_pct" in failure.value.description
    assert message in failure.value.description
    assert not (tmp_path / "data" / "work" / "mixture").exists()


@pytest.mark.parametrize("config, field", [({"min_score": 1.5}, "min_score"), ({"min_score_per_language": {"en": -0.1}}, "min_score_per_language"),
                                           ({"model_path": "/no/such/lid.176.ftz"}, "model_path"), ({"keep_languages": []}, "keep_languages")])
def test_language_id_thresholds_and_model_are_checked_before_any_part(tmp_path, config, field):
    from assets.cc_language_id import cc_language_id

    with pytest.raises(dg.Failure) as failure:
        dg.materialize([cc_language_id], resources={"corpus_storage": CorpusStorage(data_root=str(tmp_path / "data"))},
                       run_config={"ops": {"cc_language_id": {"config": config}}})
    assert f"LanguageIdConfig (run config): {field}" in failure.value.description
    assert _nothing_written(tmp_path)
