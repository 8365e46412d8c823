"""The commands users type: `dagster job execute` (on a local data root and on S3) and `dagster dev`
(queried over GraphQL)."""
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
from corpus.tokens import read_manifest
from tests.s3server import documents, files, local_trees, s3_bucket

REPO = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).with_name("dagster"))
DATA_URI = "s3://corpus/data"


def _env(tmp_path: Path, samples_dir: Path, data_root: str | None = None) -> dict:
    """``data_root`` default: ``tmp_path/data`` (a URI wants ``CORPUS_LOCAL_DIR`` set too)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    return dict(os.environ, DAGSTER_HOME=str(home), CORPUS_DATA_ROOT=data_root or str(tmp_path / "data"),
                CORPUS_RAW_DIR=str(samples_dir))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def execute_build_corpus(env: dict) -> None:
    done = subprocess.run([DAGSTER, "job", "execute", "-m", "pipelines", "-j", "build_corpus"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "RUN_SUCCESS" in done.stdout + done.stderr


@pytest.fixture(scope="module")
def cli_built(tmp_path_factory, samples_dir) -> Path:
    """The data root of `dagster job execute -j build_corpus` on a local root."""
    tmp = tmp_path_factory.mktemp("cli")
    execute_build_corpus(_env(tmp, samples_dir))
    return tmp / "data"


@pytest.mark.slow
def test_dagster_job_execute_build_corpus_exits_zero(cli_built):
    assert (cli_built / "catalog.duckdb").exists()


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


def start_dagster_dev(env: dict, port: int) -> subprocess.Popen:
    """`dagster dev` in its own process group, so the test can stop it and all its children."""
    return subprocess.Popen([DAGSTER, "dev", "-m", "pipelines", "--host", "127.0.0.1", "--port", str(port)], cwd=REPO,
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


def test_dagster_dev_serves_the_asset_graph(tmp_path, samples_dir):
    port = _free_port()
    process = start_dagster_dev(_env(tmp_path, samples_dir), port)
    try:
        keys = wait_for_asset_graph(port)
    finally:
        stop(process)
    assert {"c4_documents", "commoncrawl_documents", "exact_dedup", "curated_documents", "corpus_catalog"} <= keys
