"""The Common Crawl file partitions: download + ingest of one file into the part `commoncrawl_documents`
uses for it, and two partitions run in parallel (multiprocess executor) followed by the snapshot-level
line dedup, equal to a single-process run."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from assets.cc_line_dedup import cc_line_dedup
from assets.commoncrawl_snapshot import CommonCrawlRemote, commoncrawl_file
from assets.resources import CorpusStorage, RawInputs
from assets.sources import ingest_assets
from corpus import snapshots
from tests.httpserver import serve

REPO = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).with_name("dagster"))
commoncrawl_documents = next(a for a in ingest_assets if a.key == dg.AssetKey("commoncrawl_documents"))
SAMPLES = {  # the two real sample files used as two partitions
    "cc-main-2020-34_resiliparse/warcfile.warc.gz",
    "cc-main-2024-22_whirlwind/whirlwind.warc.gz",
}
WET_REMOTE = "CC-MAIN-2024-22/segments/1715971057216.39/wet/CC-MAIN-20240522120000-20240522150000-00000.warc.wet.gz"
WARC_LOCAL = "CC-MAIN-2024-22/segments/1715971057216.39/warc/CC-MAIN-20240522120000-20240522150000-00000.warc.gz"


def _resources(data: Path, raw: Path, data_url: str = "http://127.0.0.1:9") -> dict:
    return {"corpus_storage": CorpusStorage(data_root=str(data)), "raw_inputs": RawInputs(raw_dir=str(raw)),
            "commoncrawl_remote": CommonCrawlRemote(data_url=data_url)}


def _materialize_partition(key: str, resources: dict) -> dg.ExecuteInProcessResult:
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("commoncrawl_files", [key])
    return dg.materialize([commoncrawl_file], partition_key=key, instance=instance, resources=resources)


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
    md = result.asset_materializations_for_node("commoncrawl_file")[0].metadata
    assert md["docs_out"].value > 0 and md["snapshot"].value == "CC-MAIN-2024-22"
    assert "data:image/png;base64," in md["doc_length_histogram"].value
    wet_written = _part(data, wet_key).stat().st_mtime_ns

    # the unpartitioned asset finds the downloaded file under the same part name: skipped, not rewritten;
    # it ingests the WARC file that no partition has touched yet
    assert dg.materialize([commoncrawl_documents], resources=_resources(data, raw)).success
    assert _part(data, wet_key).stat().st_mtime_ns == wet_written
    warc_written = _part(data, warc_key).stat().st_mtime_ns
    assert sorted(p.name for p in (data / "docs" / "ingest" / "commoncrawl").iterdir()) == \
        sorted([f"{wet_key}.parquet", f"{warc_key}.parquet"])

    # ... and a partition run for the WARC file skips the part commoncrawl_documents wrote
    again = _materialize_partition(warc_key, _resources(data, raw))
    assert again.success and _part(data, warc_key).stat().st_mtime_ns == warc_written
    assert again.asset_materializations_for_node("commoncrawl_file")[0].metadata["docs_out"].value > 0


def test_a_partition_refuses_reader_inputs_meant_for_the_unpartitioned_asset(tmp_path, samples_dir):
    raw = tmp_path / "raw"
    shutil.copytree(samples_dir / "commoncrawl" / "cc-main-2024-22_whirlwind", raw / "commoncrawl" / "s")
    key = "s__whirlwind.warc.gz"
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("commoncrawl_files", [key])
    result = dg.materialize([commoncrawl_file], partition_key=key, instance=instance, raise_on_error=False,
                            resources=_resources(tmp_path / "data", raw),
                            run_config={"ops": {"commoncrawl_file": {"config": {"inputs": ["/x.warc.gz"]}}}})
    assert not result.success
    assert not _part(tmp_path / "data", key).exists()


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
    runs = [subprocess.Popen([DAGSTER, "asset", "materialize", "-m", "pipelines", "--select", "commoncrawl_file",
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
