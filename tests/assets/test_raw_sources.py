"""Lineage from the raw inputs: the source assets ``raw_<source>`` / ``commoncrawl_snapshots``, their
observations, and the ingest assets' data versions (from their input fingerprints), so a changed raw
folder marks exactly the ingest asset below it stale."""
import os
import shutil
import time

import dagster as dg
from dagster._core.definitions.data_version import DATA_VERSION_TAG, CachingStaleStatusResolver, StaleStatus
from dagster._core.loader import LoadingContextForTest

from assets.raw_sources import COMMONCRAWL_SNAPSHOTS, observe_raw_source, raw_asset_key
from assets.resources import RawInputs
from corpus import recipe
from corpus.part_runners import upstream_fingerprint
from corpus.inputs import DEFAULT_MANIFEST, SAMPLES_MANIFEST, load_manifest
from corpus.storage import Layout
from corpus.fingerprints import fingerprint
from pipelines import defs
from pipelines.sensors import SensorSettings, raw_files_sensor_for

C4, BOOKS = dg.AssetKey("c4_documents"), dg.AssetKey("books_documents")


def _raw(tmp_path, samples_dir):
    raw = tmp_path / "raw"
    (raw / "c4").mkdir(parents=True)
    shutil.copy(samples_dir / "c4" / "c4-sample.01.json.gz", raw / "c4")
    shutil.copytree(samples_dir / "books", raw / "books")
    old = time.time() - 3600
    for p in raw.rglob("*"):
        os.utime(p, (old, old))
    return raw


def _version(result, node: str) -> str:
    [mat] = result.asset_materializations_for_node(node)
    return mat.tags[DATA_VERSION_TAG]


def _stale(instance) -> dict[str, StaleStatus]:
    resolver = CachingStaleStatusResolver(instance, defs.resolve_asset_graph(), LoadingContextForTest(instance))
    return {k.to_user_string(): resolver.get_status(k) for k in (C4, BOOKS)}


def test_every_ingest_asset_starts_at_its_raw_source_asset_and_cc_also_at_the_snapshots():
    graph = defs.resolve_asset_graph()
    for source in recipe.SOURCES:
        node = graph.get(raw_asset_key(source))
        assert node.is_observable and not node.is_materializable and node.group_name == "raw"
        assert raw_asset_key(source) in graph.get(dg.AssetKey(f"{source}_documents")).parent_keys
    assert graph.get(dg.AssetKey("commoncrawl_documents")).parent_keys == {raw_asset_key("commoncrawl"), COMMONCRAWL_SNAPSHOTS}
    assert not graph.get(COMMONCRAWL_SNAPSHOTS).is_executable  # observed by commoncrawl_snapshot_sensor only
    build = defs.resolve_job_def("build_corpus").asset_layer.selected_asset_keys
    assert raw_asset_key("c4") not in build  # a build materializes, the sources are only observed


def test_the_manifest_version_of_a_source_follows_its_pins_without_downloading(tmp_path):
    """Pinned entries (the samples manifest): the version follows each entry's sha256. The default manifest's
    real upstream entries are unpinned until first downloaded, and are observed without a download as well."""
    obs = observe_raw_source("c4", None, SAMPLES_MANIFEST)
    c4_entries = [e for e in load_manifest(SAMPLES_MANIFEST) if e.source == "c4"]
    assert obs.metadata["files"].value == len(c4_entries) > 0
    assert obs.metadata["bytes"].value == sum(e.size for e in c4_entries) > 0
    manifest = tmp_path / "m.json"
    manifest.write_text(SAMPLES_MANIFEST.read_text().replace(c4_entries[0].sha256, "0" * 64))
    assert observe_raw_source("c4", None, manifest).tags[DATA_VERSION_TAG] != obs.tags[DATA_VERSION_TAG]
    assert observe_raw_source("books", None, manifest).tags == observe_raw_source("books", None, SAMPLES_MANIFEST).tags
    upstream = [e for e in load_manifest(DEFAULT_MANIFEST) if e.source == "c4"]
    assert observe_raw_source("c4", None).metadata["files"].value == len(upstream) > 0


def test_a_changed_raw_folder_makes_only_its_ingest_asset_stale(tmp_path, samples_dir, monkeypatch):
    raw = _raw(tmp_path, samples_dir)
    monkeypatch.setenv("CORPUS_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("CORPUS_RAW_DIR", str(raw))
    instance = dg.DagsterInstance.ephemeral()
    sensor = raw_files_sensor_for(SensorSettings(settle_s=60))

    def tick(cursor):
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources={"raw_inputs": RawInputs()}) as ctx:
            result = sensor(ctx)
        for event in result.asset_events:  # what the daemon does with a tick's observations
            instance.report_runless_asset_event(event)
        return result

    first = tick(None)
    observed = {e.asset_key: e for e in first.asset_events}
    assert set(observed) == {raw_asset_key(s) for s in recipe.SOURCES}
    assert observed[raw_asset_key("c4")].metadata["files"].value == 1
    assert observed[raw_asset_key("github")].metadata["files"].value == 0  # a missing folder: an empty source

    build = defs.resolve_job_def("build_corpus")
    run = build.execute_in_process(asset_selection=[C4, BOOKS], instance=instance)
    assert run.success
    again = build.execute_in_process(asset_selection=[C4, BOOKS], instance=instance)
    # the data version is the inputs' fingerprint: a rerun on the same inputs has the same one
    assert _version(again, "c4_documents") == _version(run, "c4_documents")
    assert _version(run, "c4_documents") != _version(run, "books_documents")
    parts = Layout(tmp_path / "data").docs_parts("ingest", "c4")
    assert _version(run, "c4_documents") == fingerprint(*sorted((p.name.removesuffix(".parquet"), upstream_fingerprint(p))
                                                                for p in parts))
    assert _stale(instance) == {"c4_documents": StaleStatus.FRESH, "books_documents": StaleStatus.FRESH}

    shutil.copy(samples_dir / "c4" / "c4-sample.02.json.gz", raw / "c4")
    old = time.time() - 3600
    os.utime(raw / "c4" / "c4-sample.02.json.gz", (old, old))
    second = tick(first.cursor)
    assert second.run_requests and {e.asset_key for e in second.asset_events} == set(observed)
    assert _stale(instance) == {"c4_documents": StaleStatus.STALE, "books_documents": StaleStatus.FRESH}

    rebuilt = build.execute_in_process(asset_selection=[C4], instance=instance)
    assert _version(rebuilt, "c4_documents") != _version(run, "c4_documents")
    assert _stale(instance)["c4_documents"] == StaleStatus.FRESH


def test_the_observable_sources_observe_on_demand(tmp_path, samples_dir, monkeypatch):
    raw = _raw(tmp_path, samples_dir)
    monkeypatch.setenv("CORPUS_RAW_DIR", str(raw))
    instance = dg.DagsterInstance.ephemeral()
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(asset_selection=[raw_asset_key("c4"), raw_asset_key("books")], instance=instance)
    assert result.success
    for source in ("c4", "books"):
        record = instance.get_latest_data_version_record(raw_asset_key(source))
        assert record.asset_observation.tags[DATA_VERSION_TAG] == observe_raw_source(source, raw).tags[DATA_VERSION_TAG]
