"""The sensors, evaluated against a collinfo.json and wet.paths.gz served on loopback, and a raw folder."""
import gzip
import json
import os
import shutil
import time

import dagster as dg
import pytest

from assets.commoncrawl_snapshot import CommonCrawlRemote, writes_tags
from assets.resources import RawInputs
from corpus import snapshots
from pipelines import defs
from pipelines.sensors import SensorSettings, raw_files_sensor_for, snapshot_sensor
from tests.httpserver import serve

NEW, OLD = "CC-MAIN-2024-22", "CC-MAIN-2024-18"


def _wet(snapshot: str, i: int) -> str:
    return f"crawl-data/{snapshot}/segments/1715971057216.39/wet/{snapshot}-2024052210{i:04d}-{i:05d}.warc.wet.gz"


@pytest.fixture
def listing(tmp_path):
    """A Common Crawl-shaped host: collinfo.json (newest first) and each snapshot's wet.paths.gz."""
    root = tmp_path / "host"
    root.mkdir()
    (root / "collinfo.json").write_text(json.dumps([
        {"id": NEW, "name": "May 2024 Index", "cdx-api": f"https://index.commoncrawl.org/{NEW}-index"},
        {"id": OLD, "name": "April 2024 Index", "cdx-api": f"https://index.commoncrawl.org/{OLD}-index"},
    ]))
    for snapshot in (NEW, OLD):
        (root / "crawl-data" / snapshot).mkdir(parents=True)
        paths = "\n".join(_wet(snapshot, i) for i in range(3)) + "\n"
        (root / "crawl-data" / snapshot / "wet.paths.gz").write_bytes(gzip.compress(paths.encode()))
    with serve(root) as (url, hits):
        yield url, hits


def _host(url: str) -> RawInputs:
    """The raw inputs with Common Crawl's data host at ``url`` (where wet.paths.gz and the files are)."""
    return RawInputs(commoncrawl_data_url=url)


def _evaluate(sensor, cursor, **resources):
    with dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(), cursor=cursor, resources=resources) as context:
        return sensor(context), context


def test_a_new_snapshot_registers_its_file_partitions_and_requests_one_run_each(listing):
    url, hits = listing
    remote = CommonCrawlRemote(collinfo_url=f"{url}/collinfo.json", max_files_per_snapshot=2)
    result, _ = _evaluate(snapshot_sensor(), json.dumps([OLD]), commoncrawl_remote=remote, raw_inputs=_host(url))

    expected = [snapshots.partition_key(_wet(NEW, i).removeprefix("crawl-data/")) for i in range(2)]
    assert [r.partition_key for r in result.run_requests] == expected
    assert all(r.tags == writes_tags(r.partition_key) for r in result.run_requests)  # the file's writes + stripe tags
    assert all(r.tags["corpus/writes"] == f"commoncrawl/{r.partition_key}" for r in result.run_requests)
    assert [r.run_key for r in result.run_requests] == expected
    [add] = result.dynamic_partitions_requests
    assert isinstance(add, dg.AddDynamicPartitionsRequest)
    assert add.partitions_def_name == "commoncrawl_files" and list(add.partition_keys) == expected
    assert json.loads(result.cursor) == sorted([NEW, OLD])
    assert ("collinfo.json", None) in hits and (f"crawl-data/{NEW}/wet.paths.gz", None) in hits
    assert (f"crawl-data/{OLD}/wet.paths.gz", None) not in hits  # a known snapshot is not re-read

    again, _ = _evaluate(snapshot_sensor(), result.cursor, commoncrawl_remote=remote, raw_inputs=_host(url))
    assert not again.run_requests and "no new snapshot" in again.skip_reason.skip_message


def test_the_first_tick_takes_only_the_newest_snapshot(listing):
    url, _ = listing
    remote = CommonCrawlRemote(collinfo_url=f"{url}/collinfo.json")
    result, _ = _evaluate(snapshot_sensor(), None, commoncrawl_remote=remote, raw_inputs=_host(url))
    assert len(result.run_requests) == 3  # no limit: every file of the listing
    assert {snapshots.relpath_for_key(r.partition_key).split("/")[0] for r in result.run_requests} == {NEW}


def test_requested_runs_target_the_partitioned_job_and_the_sensor_is_off_by_default():
    sensor = defs.get_sensor_def("commoncrawl_snapshot_sensor")
    assert sensor.job_name == "ingest_commoncrawl_files"
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert defs.get_sensor_def("raw_files_sensor").default_status == dg.DefaultSensorStatus.STOPPED
    job = defs.resolve_job_def("ingest_commoncrawl_files")
    assert job.asset_layer.selected_asset_keys == {dg.AssetKey("commoncrawl_documents")}
    assert job.partitions_def.name == "commoncrawl_files"


def test_an_unreachable_listing_fails_the_tick_without_moving_the_cursor(tmp_path, listing):
    url, _ = listing
    known = json.dumps([OLD])
    unreachable = CommonCrawlRemote(collinfo_url=str(tmp_path / "missing.json"))
    resources = {"commoncrawl_remote": unreachable, "raw_inputs": _host("http://127.0.0.1:9")}
    with dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(), cursor=known, resources=resources) as context:
        with pytest.raises(Exception, match="missing.json"):
            snapshot_sensor()(context)
        assert context.cursor == known

    # the listing answers but the new snapshot's wet.paths.gz does not (yet): the cursor stays too
    paths = tmp_path / "host" / "crawl-data" / NEW / "wet.paths.gz"
    paths.rename(paths.with_name("hidden"))
    remote = CommonCrawlRemote(collinfo_url=f"{url}/collinfo.json")
    with dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(), cursor=known,
                                 resources={"commoncrawl_remote": remote, "raw_inputs": _host(url)}) as context:
        with pytest.raises(Exception, match="404"):
            snapshot_sensor()(context)
        assert context.cursor == known

    # so the next tick from that same cursor still registers the new snapshot: nothing was skipped
    paths.with_name("hidden").rename(paths)
    result, _ = _evaluate(snapshot_sensor(), known, commoncrawl_remote=remote, raw_inputs=_host(url))
    assert {snapshots.relpath_for_key(r.partition_key).split("/")[0] for r in result.run_requests} == {NEW}
    assert json.loads(result.cursor) == sorted([NEW, OLD])


def _raw_dir(tmp_path, samples_dir):
    raw = tmp_path / "raw"
    shutil.copytree(samples_dir / "c4", raw / "c4")
    old = time.time() - 3600
    for p in raw.rglob("*"):
        os.utime(p, (old, old))
    return raw


def test_raw_folder_sensor_requests_a_build_when_the_listing_changes(tmp_path, samples_dir):
    raw = _raw_dir(tmp_path, samples_dir)
    sensor = raw_files_sensor_for(SensorSettings(settle_s=60))
    first, _ = _evaluate(sensor, None, raw_inputs=RawInputs(raw_dir=str(raw)))
    [request] = first.run_requests
    assert sensor.job_name == "build_corpus" and request.run_key == f"raw-{first.cursor}"

    unchanged, _ = _evaluate(sensor, first.cursor, raw_inputs=RawInputs(raw_dir=str(raw)))
    assert isinstance(unchanged, dg.SkipReason) and "unchanged" in unchanged.skip_message

    new = raw / "commoncrawl" / "s" / "whirlwind.warc.wet.gz"
    new.parent.mkdir(parents=True)
    shutil.copy(samples_dir / "commoncrawl" / "cc-main-2024-22_whirlwind" / "whirlwind.warc.wet.gz", new)
    settling, _ = _evaluate(sensor, first.cursor, raw_inputs=RawInputs(raw_dir=str(raw)))
    assert isinstance(settling, dg.SkipReason) and "settle" in settling.skip_message  # still being copied

    old = time.time() - 3600
    os.utime(new, (old, old))
    second, _ = _evaluate(sensor, first.cursor, raw_inputs=RawInputs(raw_dir=str(raw)))
    [request] = second.run_requests
    assert second.cursor != first.cursor and request.run_key == f"raw-{second.cursor}"


def test_raw_folder_sensor_skips_without_a_raw_dir(monkeypatch):
    monkeypatch.delenv("CORPUS_RAW_DIR", raising=False)
    result, _ = _evaluate(raw_files_sensor_for(), None, raw_inputs=RawInputs())
    assert isinstance(result, dg.SkipReason) and "CORPUS_RAW_DIR" in result.skip_message
