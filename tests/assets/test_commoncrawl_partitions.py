"""The one Common Crawl ingest asset over its file partitions: a partition run downloads and ingests one file
into the part the unpartitioned (bulk) run writes for it, a single-run backfill ingests a range of files in
one run, the bulk run records every file as a materialized partition, and two partitions run in parallel
(multiprocess executor) followed by the snapshot-level line dedup, equal to a single-process run."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from assets.cc_line_dedup import cc_line_dedup
from dagster._core.definitions.data_version import DATA_VERSION_TAG

from assets.resources import CorpusStorage, RawInputs
from assets.sources import commoncrawl_documents
from corpus import snapshots
from tests.httpserver import serve

REPO = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).with_name("dagster"))
SAMPLES = {  # the two real sample files used as two partitions
    "cc-main-2020-34_resiliparse/warcfile.warc.gz",
    "cc-main-2024-22_whirlwind/whirlwind.warc.gz",
}
WET_REMOTE = "CC-MAIN-2024-22/segments/1715971057216.39/wet/CC-MAIN-20240522120000-20240522150000-00000.warc.wet.gz"
WARC_LOCAL = "CC-MAIN-2024-22/segments/1715971057216.39/warc/CC-MAIN-20240522120000-20240522150000-00000.warc.gz"


def _resources(data: Path, raw: Path, data_url: str = "http://127.0.0.1:9") -> dict:
    return {"corpus_storage": CorpusStorage(data_root=str(data)),
            "raw_inputs": RawInputs(raw_dir=str(raw), commoncrawl_data_url=data_url)}


def _materialize_partition(key: str, resources: dict, instance=None) -> dg.ExecuteInProcessResult:
    instance = instance or dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("commoncrawl_files", [key])
    return dg.materialize([commoncrawl_documents], partition_key=key, instance=instance, resources=resources)


def _materializations(result) -> dict:
    """partition -> the materialization the run recorded for it (None: the run's whole-stage one)."""
    return {m.partition: m for m in result.asset_materializations_for_node("commoncrawl_documents")}


def _part(data: Path, key: str) -> Path:
    return data / "docs" / "ingest" / "commoncrawl" / f"{key}.parquet"


def test_a_partition_downloads_its_file_and_agrees_with_the_unpartitioned_asset(tmp_path, samples_dir):
    sample = samples_dir / "commoncrawl" / "cc-main-2024-22_whirlwind"
    host, raw, data = tmp_path / "host", tmp_path / "raw", tmp_path / "data"
    (host / "crawl-data" / WET_REMOTE).parent.mkdir(parents=True)
    shutil.copy(sample / "whirlwind.warc.wet.gz", host / "crawl-data" / WET_REMOTE)
    (raw / "commoncrawl" / WARC_LOCAL).parent.mkdir(parents=True)
    shutil.copy(sample / "whirlwind.warc.gz", raw / "commoncrawl" / WARC_LOCAL)
    wet_key, warc_key = snapshots.partition_key(WET_REMOTE), snapshots.partition_key(WARC_LOCAL)

    with serve(host) as (url, hits):
        result = _materialize_partition(wet_key, _resources(data, raw, url))
    assert result.success
    assert hits == [(f"crawl-data/{WET_REMOTE}", None)]
    assert (raw / "commoncrawl" / WET_REMOTE).read_bytes() == (sample / "whirlwind.warc.wet.gz").read_bytes()
    [mat] = result.asset_materializations_for_node("commoncrawl_documents")
    assert mat.partition == wet_key
    md = mat.metadata
    assert md["docs_out"].value > 0 and md["snapshot"].value == "CC-MAIN-2024-22"
    assert (md["executor"].value, md["executor_tasks"].value) == ("in-process", 1)
    assert "data:image/png;base64," in md["doc_length_histogram"].value
    wet_written = _part(data, wet_key).stat().st_mtime_ns

    # the run without partition finds the downloaded file under the same part name: skipped, not rewritten;
    # it ingests the WARC file that no partition has touched yet
    instance = dg.DagsterInstance.ephemeral()
    bulk = dg.materialize([commoncrawl_documents], resources=_resources(data, raw), instance=instance)
    assert bulk.success
    assert _part(data, wet_key).stat().st_mtime_ns == wet_written
    warc_written = _part(data, warc_key).stat().st_mtime_ns
    assert sorted(p.name for p in (data / "docs" / "ingest" / "commoncrawl").iterdir()) == \
        sorted([f"{wet_key}.parquet", f"{warc_key}.parquet"])

    # ... and records both files as materialized partitions, each with its part's counts and input version
    assert sorted(instance.get_dynamic_partitions("commoncrawl_files")) == sorted([wet_key, warc_key])
    assert instance.get_materialized_partitions(commoncrawl_documents.key) == {wet_key, warc_key}
    recorded = _materializations(bulk)
    assert set(recorded) == {wet_key, warc_key, None}  # None: the run's own, with the whole stage's metadata
    assert recorded[None].metadata["input_units"].value == 2
    assert recorded[wet_key].metadata["docs_out"].value == md["docs_out"].value
    assert recorded[wet_key].tags[DATA_VERSION_TAG] == mat.tags[DATA_VERSION_TAG]  # the partition run's version

    # ... and a partition run for the WARC file skips the part the bulk run wrote, with the same version
    again = _materialize_partition(warc_key, _resources(data, raw))
    assert again.success and _part(data, warc_key).stat().st_mtime_ns == warc_written
    [mat] = again.asset_materializations_for_node("commoncrawl_documents")
    assert mat.metadata["docs_out"].value > 0 and mat.metadata["parts_skipped"].value == 1
    assert mat.metadata["executor_tasks"].value == 0
    assert mat.tags[DATA_VERSION_TAG] == recorded[warc_key].tags[DATA_VERSION_TAG]


def test_a_partition_refuses_reader_inputs_meant_for_the_unpartitioned_asset(tmp_path, samples_dir):
    raw = tmp_path / "raw"
    shutil.copytree(samples_dir / "commoncrawl" / "cc-main-2024-22_whirlwind", raw / "commoncrawl" / "s")
    key = "s__whirlwind.warc.gz"
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("commoncrawl_files", [key])
    warc = raw / "commoncrawl" / "s" / "whirlwind.warc.gz"
    result = dg.materialize([commoncrawl_documents], partition_key=key, instance=instance, raise_on_error=False,
                            resources=_resources(tmp_path / "data", raw),
                            run_config={"ops": {"commoncrawl_documents": {"config": {"inputs": [str(warc)]}}}})
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "a partition run reads the files its partitions name" in failure.event_specific_data.error.message
    assert not (tmp_path / "data" / "docs").exists()


def test_a_single_run_backfill_ingests_its_range_in_one_run_and_touches_no_other_part(tmp_path, samples_dir):
    """The backfill policy of the bulk path: a range of file partitions is one run (one step), which writes
    exactly their parts, byte-identical to the run without partition, and leaves every other part alone."""
    raw, data, bulk = _raw_dir(tmp_path, samples_dir), tmp_path / "data", tmp_path / "bulk"
    assert commoncrawl_documents.backfill_policy == dg.BackfillPolicy.single_run()
    keys = sorted(snapshots.partition_key(rel) for rel in SAMPLES)
    other = data / "docs" / "ingest" / "commoncrawl" / "unrelated.parquet"
    other.parent.mkdir(parents=True)
    other.write_bytes(b"another run's part")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("commoncrawl_files", keys)
    result = dg.materialize([commoncrawl_documents], instance=instance, resources=_resources(data, raw),
                            tags={"dagster/asset_partition_range_start": keys[0],
                                  "dagster/asset_partition_range_end": keys[-1]})
    assert result.success
    assert sorted(m.partition for m in result.asset_materializations_for_node("commoncrawl_documents")) == keys
    assert other.read_bytes() == b"another run's part"
    assert dg.materialize([commoncrawl_documents], resources=_resources(bulk, raw)).success
    for key in keys:
        assert _part(data, key).read_bytes() == _part(bulk, key).read_bytes()


BL_FOLDER = "bl-heritrix-2014_data-gov-uk_webarchive-discovery"
BL_KEYS = [  # the part names of its two files, with a `~` in their names: escaped behind `=`
    "=bl-heritrix-2014_5fdata-gov-uk_5fwebarchive-discovery__BL-20140325121225068-00000-32090_7eopera_7e8443.warc.gz",
    "=bl-heritrix-2014_5fdata-gov-uk_5fwebarchive-discovery__BL-20140325122341434-00000-32090_7eopera_7e8443.warc.gz"]


def test_files_whose_names_are_not_ordinary_are_partitions_that_find_their_file(tmp_path, samples_dir):
    """The British Library's ``...-32090~opera~8443.warc.gz`` files: the bulk run registers each as a partition
    under its part name, and a partition run on that key finds the file under the source root (the data host
    is unreachable: nothing is downloaded) and writes the bulk run's part, byte for byte."""
    raw, bulk, data = tmp_path / "raw", tmp_path / "bulk", tmp_path / "data"
    shutil.copytree(samples_dir / "commoncrawl" / BL_FOLDER, raw / "commoncrawl" / BL_FOLDER)
    rels = sorted(p.relative_to(raw / "commoncrawl").as_posix() for p in (raw / "commoncrawl").rglob("*.gz"))
    assert len(rels) == 2 and all("~" in rel for rel in rels)
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([commoncrawl_documents], instance=instance, resources=_resources(bulk, raw))
    assert sorted(k for k in _materializations(result) if k is not None) == BL_KEYS
    assert sorted(instance.get_dynamic_partitions("commoncrawl_files")) == BL_KEYS
    assert [snapshots.partition_key(rel) for rel in rels] == BL_KEYS
    assert [snapshots.relpath_for_key(key) for key in BL_KEYS] == rels
    for key in BL_KEYS:
        assert _materialize_partition(key, _resources(data, raw)).success
        assert _part(data, key).read_bytes() == _part(bulk, key).read_bytes()
    assert not list((raw / "commoncrawl").rglob("*.part"))


def _raw_dir(tmp_path: Path, samples_dir: Path) -> Path:
    raw = tmp_path / "raw"
    for rel in SAMPLES:
        (raw / "commoncrawl" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(samples_dir / "commoncrawl" / rel, raw / "commoncrawl" / rel)
    return raw


def _outputs(data: Path) -> dict[str, bytes]:
    trees = [data / t / s / "commoncrawl" for t in ("docs", "dropped", "funnel") for s in ("ingest", "line_dedup")]
    out = {str(p.relative_to(data)): p.read_bytes() for tree in trees for p in sorted(tree.glob("*.parquet"))}
    assert out and not list(data.rglob("*.tmp-*"))
    return out


@pytest.mark.slow
def test_two_partitions_in_parallel_with_the_multiprocess_executor_then_line_dedup_equal_one_process(tmp_path, samples_dir,
                                                                                                     monkeypatch):
    raw = _raw_dir(tmp_path, samples_dir)
    home, data = tmp_path / "dagster_home", tmp_path / "data"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = dict(os.environ, DAGSTER_HOME=str(home), CORPUS_DATA_ROOT=str(data), CORPUS_RAW_DIR=str(raw))
    keys = sorted(snapshots.partition_key(rel) for rel in SAMPLES)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("commoncrawl_files", keys)

    # two runs at once, as a backfill launches them; each uses the default (multiprocess) executor
    runs = [subprocess.Popen([DAGSTER, "asset", "materialize", "-m", "pipelines", "--select", "commoncrawl_documents",
                              "--partition", key], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True) for key in keys]
    logs = [r.communicate(timeout=600)[0] for r in runs]
    assert [r.returncode for r in runs] == [0, 0], "\n".join(log[-3000:] for log in logs)
    dedup = subprocess.run([DAGSTER, "asset", "materialize", "-m", "pipelines", "--select", "cc_line_dedup"],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert dedup.returncode == 0, dedup.stdout[-3000:] + dedup.stderr[-3000:]

    with dg.DagsterInstance.get() as instance:
        records = [r for r in instance.get_run_records() if r.dagster_run.tags.get("dagster/partition")]
        assert sorted(r.dagster_run.tags["dagster/partition"] for r in records) == keys
        (a, b) = sorted(records, key=lambda r: r.start_time)
        assert b.start_time < a.end_time, "the two partition runs did not overlap"
        for r in records:
            events = instance.all_logs(r.dagster_run.run_id)
            assert any("multiprocess executor" in (e.message or "") for e in events)

    single = tmp_path / "single"
    assert dg.materialize([commoncrawl_documents, cc_line_dedup], resources=_resources(single, raw)).success
    parallel, reference = _outputs(data), _outputs(single)
    assert parallel.keys() == reference.keys()
    assert [k for k in parallel if parallel[k] != reference[k]] == []
    assert {f"docs/ingest/commoncrawl/{k}.parquet" for k in keys} <= parallel.keys()
