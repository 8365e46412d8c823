"""Offline without CORPUS_RAW_DIR: the default manifest's hosts cannot be reached. `dagster job execute -j
build_corpus` must say so at once, in the line that names CORPUS_RAW_DIR, instead of retrying for minutes; a
step that downloads (explicit URL inputs, a Common Crawl partition) fails the same way, without its retries."""
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from assets.resources import CorpusStorage, RawInputs
from assets.sources import ingest_assets

REPO = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).with_name("dagster"))
UNREACHABLE = (r"cannot download \S+: host (\S+) is unreachable \((?:connection refused|its name does not resolve)"
               r"[^)]*\)\. To run on local files, set CORPUS_RAW_DIR=")


def _refused_proxy() -> str:
    """A loopback port nothing listens on: as the proxy for every request it makes this machine offline (every
    connection refused), whether or not it has a network."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_build_corpus_offline_without_corpus_raw_dir_fails_in_under_a_minute_naming_it(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if k != "CORPUS_RAW_DIR" and not k.lower().endswith("_proxy")}
    proxy = _refused_proxy()
    env.update(DAGSTER_HOME=str(home), CORPUS_DATA_ROOT=str(tmp_path / "data"), http_proxy=proxy, https_proxy=proxy)
    started = time.monotonic()
    done = subprocess.run([DAGSTER, "job", "execute", "-m", "pipelines", "-j", "build_corpus"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - started
    out = done.stdout + done.stderr
    assert done.returncode != 0 and "RUN_FAILURE" in out, out[-3000:]
    assert re.findall(UNREACHABLE, out) == ["data.commoncrawl.org"], out[-3000:]  # the first entry's host
    assert "STEP_START" not in out and "retry" not in out  # failed before any step, nothing retried
    assert elapsed < 60, f"the offline run took {elapsed:.0f} s"
    print(f"offline build_corpus failed after {elapsed:.1f} s")


def test_a_step_that_cannot_reach_its_url_fails_once_without_retries(tmp_path):
    c4 = next(a for a in ingest_assets if a.key.path == ["c4_documents"])
    url = "http://nonexistent.invalid/c4-train.00000-of-01024.json.gz"
    started = time.monotonic()
    result = dg.materialize([c4], resources={"corpus_storage": CorpusStorage(data_root=str(tmp_path / "data")),
                                             "raw_inputs": RawInputs(raw_dir=str(tmp_path / "raw"))},
                            run_config={"ops": {"c4_documents": {"config": {"inputs": [url]}}}}, raise_on_error=False)
    assert not result.success and time.monotonic() - started < 30
    failures = [e for e in result.all_events if e.is_step_failure]
    assert len(failures) == 1 and not [e for e in result.all_events if e.is_step_up_for_retry]
    message = failures[0].step_failure_data.error.message
    assert re.findall(UNREACHABLE, message) == ["nonexistent.invalid"], message
