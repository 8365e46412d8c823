"""Run ``dagster job execute -m pipelines -j build_corpus`` on a real two-node Ray cluster bound to 127.0.0.1.

Meant to run inside a private network namespace (``unshare -n`` with ``lo`` up: ``loopback_command``), so no
Ray traffic can leave the machine: Ray probes an outside address to pick a node's IP, and every node here is
given ``node_ip_address=127.0.0.1``. The head and one worker node have 1 CPU each. With ``--kill-worker-at
STAGE/SOURCE:N`` the worker node is killed (``Cluster.remove_node``, not gracefully) as soon as N parts of
that stage are complete, while its other parts are still running; Ray retries the lost tasks elsewhere. With
``--kill-driver-at STAGE/SOURCE:N`` the whole ``dagster job execute`` process group is SIGKILLed then and the job
is run again (it must resume from the completed parts). Prints one JSON line: the last job's exit status, the
log file (in ``DAGSTER_HOME``), the cluster's address and the parts complete at each kill.

    python tests/ray_loopback.py --kill-worker-at ingest/commoncrawl:4   # env: CORPUS_DATA_ROOT, DAGSTER_HOME, ...
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ray.cluster_utils import Cluster

REPO = Path(__file__).resolve().parents[1]
NODE = dict(num_cpus=1, memory=3 * 1024 ** 3, node_ip_address="127.0.0.1")


def require_private_netns() -> None:
    """Skip the calling test where a private network namespace cannot be made: the Ray tests run only on the
    loopback of one, so that no Ray traffic leaves the machine."""
    import pytest

    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"a private network namespace is not permitted here (unshare -n: {probe.stderr.strip()})")


def loopback_command(*args: str, target: str = str(Path(__file__))) -> list[str]:
    """Python running ``target`` (default: this script; ``-m tests.x`` for a module that imports the
    project, which a script run from tests/ would shadow by tests/corpus) under ``unshare -n`` (a new
    network namespace: only its own loopback, brought up)."""
    shell = f'ip link set lo up && exec "$0" {target} "$@"'
    return ["unshare", "-n", "sh", "-c", shell, sys.executable, *args]


def complete_parts(data_root: Path, stage_source: str) -> int:
    folder = data_root / "docs" / stage_source
    return sum(1 for p in folder.glob("*.parquet")) if folder.exists() else 0


def _at(spec: str | None) -> tuple[str, int] | None:
    if not spec:
        return None
    stage_source, n = spec.rsplit(":", 1)
    return stage_source, int(n)


def build_corpus(env: dict, log: Path) -> subprocess.Popen:
    """``dagster job execute`` in its own process group (so the whole driver, step processes included, can be killed)."""
    with log.open("a") as sink:
        return subprocess.Popen([str(Path(sys.executable).with_name("dagster")), "job", "execute", "-m", "pipelines",
                                 "-j", "build_corpus"], cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kill-worker-at", default=None, help="STAGE/SOURCE:N: remove the worker node then")
    ap.add_argument("--kill-driver-at", default=None,
                    help="STAGE/SOURCE:N: SIGKILL the job's process group then, and run the job again")
    args = ap.parse_args()
    cluster = Cluster(initialize_head=True, head_node_args=dict(NODE, include_dashboard=False))
    worker = cluster.add_node(**NODE)
    cluster.wait_for_nodes()
    address = cluster.address
    env = dict(os.environ, CORPUS_EXECUTOR="ray", RAY_ADDRESS=address)
    data_root = Path(os.environ["CORPUS_DATA_ROOT"])
    log = Path(os.environ["DAGSTER_HOME"]) / "build_corpus.log"
    job = build_corpus(env, log)
    events = [(at, action) for at, action in ((_at(args.kill_worker_at), "worker"), (_at(args.kill_driver_at), "driver")) if at]
    report: dict = {"ray_address": address, "log": str(log)}
    for (stage_source, n), action in events:
        while job.poll() is None and complete_parts(data_root, stage_source) < n:
            time.sleep(0.05)
        if job.poll() is not None:
            break
        if action == "worker":
            cluster.remove_node(worker, allow_graceful=False)
        else:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()
        report[f"{action}_killed_at_parts"] = complete_parts(data_root, stage_source)
        if action == "driver":
            report["killed_driver_returncode"] = job.returncode
            job = build_corpus(env, log)
    report["returncode"] = job.wait()  # the test bounds the whole helper
    cluster.shutdown()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
