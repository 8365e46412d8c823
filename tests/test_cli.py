"""The commands users type: `dagster job execute` and `dagster dev` (queried over GraphQL)."""
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

REPO = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).with_name("dagster"))


def _env(tmp_path: Path, samples_dir: Path) -> dict:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    return dict(os.environ, DAGSTER_HOME=str(home), CORPUS_DATA_ROOT=str(tmp_path / "data"), CORPUS_RAW_DIR=str(samples_dir))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_dagster_job_execute_build_corpus_exits_zero(tmp_path, samples_dir):
    env = _env(tmp_path, samples_dir)
    done = subprocess.run([DAGSTER, "job", "execute", "-m", "pipelines", "-j", "build_corpus"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "RUN_SUCCESS" in done.stdout + done.stderr
    assert (tmp_path / "data" / "catalog.duckdb").exists()


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
