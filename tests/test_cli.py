"""The commands users type: `dg launch --job build_corpus` (local data root) and `dagster job execute`
(on S3, compared byte for byte with the `dg` run), `dg launch --assets`, `dg check defs`, `dg list defs`,
and `dg dev` / `dagster dev` (queried over GraphQL)."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from corpus import storage
from corpus.shards import manifest_problems, read_manifest
from tests.s3server import documents, files, local_trees, s3_bucket

REPO = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).with_name("dagster"))
DG = str(Path(sys.executable).with_name("dg"))
DATA_URI = "s3://corpus/data"


def _env(tmp_path: Path, samples_dir: Path, data_root: str | None = None) -> dict:
    """``data_root`` default: ``tmp_path/data`` (a URI wants ``CORPUS_LOCAL_DIR`` set too)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    return dict(os.environ, DAGSTER_HOME=str(home), CORPUS_DATA_ROOT=data_root or str(tmp_path / "data"),
                CORPUS_RAW_DIR=str(samples_dir), PYTHONPATH=str(REPO))


def run_cli(args: list[str], env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a command from the repo root; asserts it exits 0."""
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def output(done: subprocess.CompletedProcess) -> str:
    return done.stdout + done.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def execute_build_corpus(env: dict) -> None:
    assert "RUN_SUCCESS" in output(run_cli([DAGSTER, "job", "execute", "-m", "pipelines", "-j", "build_corpus"], env, 1800))


def _runs(env: dict) -> list:
    """The runs recorded in the instance of ``env``'s DAGSTER_HOME."""
    import dagster as dg

    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        return list(instance.get_runs())


@pytest.fixture(scope="module")
def cli_built(tmp_path_factory, samples_dir) -> Path:
    """The data root of `dg launch --job build_corpus` on a local root."""
    tmp = tmp_path_factory.mktemp("cli")
    env = _env(tmp, samples_dir)
    assert "RUN_SUCCESS" in output(run_cli([DG, "launch", "--job", "build_corpus"], env, 1800))
    assert [(r.job_name, r.status.value) for r in _runs(env)] == [("build_corpus", "SUCCESS")]
    return tmp / "data"


@pytest.mark.slow
def test_dg_launch_job_build_corpus_writes_catalog_and_both_shard_formats(cli_built):
    assert (cli_built / "catalog.duckdb").exists()
    manifest = read_manifest(cli_built / "shards")
    assert {"flat", "megatron"} == set(manifest["formats"])
    assert manifest_problems(cli_built / "shards", manifest) == []


def test_dg_check_defs_passes(tmp_path, samples_dir):
    assert "All definitions loaded successfully." in output(run_cli([DG, "check", "defs"], _env(tmp_path, samples_dir)))


def test_dg_list_defs_lists_the_graph_and_the_jobs(tmp_path, samples_dir):
    listed = json.loads(run_cli([DG, "list", "defs", "--json"], _env(tmp_path, samples_dir)).stdout)
    assets = {a["asset_key"]: a for a in listed["assets"]}
    assert {"c4_documents", "commoncrawl_documents", "curated_documents", "token_shards", "pretrained_model"} <= set(assets)
    assert assets["token_shards"]["group_name"] == "tokens"
    assert {j["name"] for j in listed["jobs"]} >= {"build_corpus", "pretrain", "ingest_commoncrawl_files"}


def test_dg_launch_assets_materializes_c4_documents(tmp_path, samples_dir):
    """`dg launch --assets c4_documents` on a raw folder of one real C4 file: one part of its 10 documents."""
    raw = tmp_path / "raw" / "c4"
    raw.mkdir(parents=True)
    shutil.copy(samples_dir / "c4" / "c4-sample.01.json.gz", raw)
    env = _env(tmp_path, tmp_path / "raw")
    assert "RUN_SUCCESS" in output(run_cli([DG, "launch", "--assets", "c4_documents"], env))
    part = storage.Layout(tmp_path / "data").part("docs", "ingest", "c4", "c4-sample.01.json.gz")
    assert storage.read_table(part).num_rows == 10
    assert [r.status.value for r in _runs(env)] == ["SUCCESS"]


@pytest.mark.slow
def test_dagster_job_execute_build_corpus_on_s3_writes_the_same_bytes(cli_built, tmp_path, samples_dir, monkeypatch):
    """The whole job with the data root on S3 (moto; every step's process reaches it through the AWS_*
    variables): the bucket holds the local run's part trees byte for byte, the shards and catalog rows match."""
    monkeypatch.setenv("CORPUS_LOCAL_DIR", str(tmp_path))
    with s3_bucket(monkeypatch) as fs:
        execute_build_corpus(_env(tmp_path, samples_dir, DATA_URI))
        on_s3 = files(fs, "corpus/data")
        rows = documents(storage.layout_for(DATA_URI))
    expected = local_trees(cli_built)
    assert on_s3.keys() == expected.keys() and expected
    assert [k for k in expected if on_s3[k] != expected[k]] == []
    assert read_manifest(tmp_path / "shards") == read_manifest(cli_built / "shards")
    assert rows and rows == documents(storage.Layout(cli_built))


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


DEV_COMMANDS = {"dg": [DG, "dev"], "dagster": [DAGSTER, "dev", "-m", "pipelines"]}


def start_dagster_dev(env: dict, port: int, cli: str = "dagster") -> subprocess.Popen:
    """`dg dev` (or `dagster dev`) in its own process group, so the test can stop it and all its children."""
    return subprocess.Popen(DEV_COMMANDS[cli] + ["--host", "127.0.0.1", "--port", str(port)], cwd=REPO,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_for_asset_graph(port: int, deadline_s: float = 180) -> set[str]:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            data = graphql(port, "{ assetNodes { assetKey { path } } }")
            keys = {"/".join(n["assetKey"]["path"]) for n in data["data"]["assetNodes"]}
            if keys:
                return keys
        except (OSError, KeyError, TypeError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("dagster dev did not serve the asset graph in time")
        time.sleep(1)


@pytest.mark.parametrize("cli", sorted(DEV_COMMANDS))
def test_dev_serves_the_asset_graph(tmp_path, samples_dir, cli):
    port = _free_port()
    process = start_dagster_dev(_env(tmp_path, samples_dir), port, cli)
    try:
        keys = wait_for_asset_graph(port)
    finally:
        stop(process)
    assert {"c4_documents", "commoncrawl_documents", "exact_dedup", "curated_documents", "corpus_catalog"} <= keys


def _loopback_ray_build(tmp_path: Path, samples_dir: Path, *faults: str) -> tuple[Path, dict, dict]:
    """`dagster job execute -j build_corpus` with CORPUS_EXECUTOR=ray on a two-node Ray cluster bound to 127.0.0.1
    inside a private network namespace (tests/ray_loopback.py); returns its data root, report and env."""
    from tests.ray_loopback import loopback_command, require_private_netns

    require_private_netns()
    env = _env(tmp_path, samples_dir)
    done = subprocess.run(loopback_command(*faults), cwd=REPO, env=env, capture_output=True, text=True, timeout=3500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["returncode"] == 0, Path(report["log"]).read_text()[-4000:]
    return tmp_path / "data", report, env


def _assert_same_corpus(root: Path, reference: Path) -> None:
    """Every Parquet part (docs/, dropped/, funnel/), the shard manifest and the catalog rows, byte for byte."""
    ours, expected = local_trees(root), local_trees(reference)
    assert ours.keys() == expected.keys() and expected
    assert [k for k in expected if ours[k] != expected[k]] == []
    assert read_manifest(root / "shards") == read_manifest(reference / "shards")
    rows = documents(storage.Layout(root))
    assert rows and rows == documents(storage.Layout(reference))


def _part_stage_metadata(env: dict) -> dict[str, dict]:
    """The latest materialization's metadata of every asset that reports an executor."""
    import dagster as dg

    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        out = {}
        for key in instance.get_asset_keys():
            event = instance.get_latest_materialization_event(key)
            md = event.asset_materialization.metadata if event else {}
            if "executor" in md:
                out[key.to_user_string()] = {k: md[k].value for k in ("executor", "executor_tasks", "executor_nodes",
                                                                      "executor_side_tasks")}
        return out


@pytest.mark.slow
@pytest.mark.timeout(3600)  # a whole build_corpus: minutes on 2 free cores, much more on a loaded machine
def test_build_corpus_on_a_two_node_ray_cluster_writes_the_in_process_bytes(cli_built, tmp_path, samples_dir):
    """Every part of every stage is a Ray task (head + one worker node, 1 CPU each, on 127.0.0.1), and so is the
    side work of the shuffles (exact dedup's hash parts and buckets, the MinHash signatures and band partitions,
    the token cache's document ranges); the parts (the dedup stages' included), the shard manifest (each shard's
    sha256) and the catalog rows equal the in-process run's, and each stage names the executor."""
    root, _, env = _loopback_ray_build(tmp_path, samples_dir)
    _assert_same_corpus(root, cli_built)
    stages = _part_stage_metadata(env)
    cc_parts = len(storage.Layout(cli_built).docs_parts("ingest", "commoncrawl"))
    assert stages["commoncrawl_documents"] == {"executor": "ray", "executor_tasks": cc_parts, "executor_nodes": 2,
                                               "executor_side_tasks": 0}
    assert {"cc_line_dedup", "cc_language_id", "cc_perplexity", "cc_wikiref", "exact_dedup",
            "near_dedup"} <= set(stages)
    assert {md["executor"] for md in stages.values()} == {"ray"}
    for shuffle in ("exact_dedup", "minhash_signatures", "near_duplicates", "token_shards"):
        assert stages[shuffle]["executor_side_tasks"] > 0 and stages[shuffle]["executor_nodes"] >= 1, shuffle


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_ray_build_survives_a_killed_worker_node_and_a_killed_driver_with_the_same_bytes(cli_built, tmp_path, samples_dir):
    """The worker node is killed while Common Crawl ingest tasks run on it (Ray retries them on the head); later
    the whole driver (`dagster job execute` and its step processes) is SIGKILLed in language ID, and a rerun
    resumes: it builds only the parts that were not complete. The result is the in-process run's, byte for byte."""
    root, report, env = _loopback_ray_build(tmp_path, samples_dir, "--kill-worker-at", "ingest/commoncrawl:4",
                                            "--kill-driver-at", "langid/commoncrawl:3")
    cc_parts = len(storage.Layout(cli_built).docs_parts("langid", "commoncrawl"))
    assert 4 <= report["worker_killed_at_parts"] < cc_parts and 3 <= report["driver_killed_at_parts"] < cc_parts
    assert report["killed_driver_returncode"] == -signal.SIGKILL
    _assert_same_corpus(root, cli_built)
    stages = _part_stage_metadata(env)
    # the rerun materialized language ID building only what the killed driver had not completed
    assert stages["cc_language_id"]["executor"] == "ray"
    assert 0 < stages["cc_language_id"]["executor_tasks"] <= cc_parts - report["driver_killed_at_parts"]
    assert stages["commoncrawl_documents"]["executor_tasks"] == 0  # completed before the kill: all skipped
