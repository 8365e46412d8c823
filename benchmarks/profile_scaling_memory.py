"""Which Dagster step sets the peak RSS of ``build_corpus`` (the scaling benchmark's job)?

Runs the job the way ``bench_scaling`` does (``execute_in_process``: every step in this one process,
model trainers as child processes) on a raw dir built by ``bench_scaling.build_raw``, while a thread
samples this process's RSS and the summed RSS of its live children every ``--interval`` seconds. Each
sample is attributed to the step(s) running at that time (from the run's STEP_START / STEP_SUCCESS /
STEP_FAILURE event-log timestamps). Per step: RSS at its start, peak RSS of this process during it, its
rise, peak RSS of its children, and ``ru_maxrss`` (the high-water mark getrusage reports) at its end;
the step during which the high-water mark was reached is the one that sets the benchmark's figure.

With ``--executor ray`` the child runs inside a private network namespace (``common.in_private_netns``) and
starts a loopback Ray cluster there (``ray.cluster_utils.Cluster``: a head with 0 CPUs and ``--workers``
worker nodes of 1 CPU, every node on 127.0.0.1), and the job runs with ``CORPUS_EXECUTOR=ray``: every part
and side task of the stages is a Ray task. This process is then the Dagster driver: its own RSS is the
driver's figure; the Ray processes among its children are sampled apart, as the workers (``ray::`` tasks
and idle workers) and Ray's own daemons (GCS, raylets, agents), so "children" stays the model trainers.
The materializations' executor metadata (``executor_*`` with the stages' document counts) is returned too:
``bench_ray_executor`` derives its per-stage rates from it.

    .venv/bin/python -m benchmarks.profile_scaling_memory [--scale 10] [--work DIR] [--reuse-raw] [--json OUT]
        [--executor ray [--workers 2]]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq

from benchmarks import bench_scaling, common


OTHER, RAY_WORKER, RAY_DAEMON = range(3)


def process_kind(cmdline: list[str]) -> int:
    """A child process's kind: a Ray worker (its title ``ray::<task>`` or ``ray::IDLE``, or the worker script
    before it takes one), one of Ray's daemons (a binary or script of the ray package, or a node's agents:
    ``ray::DashboardAgent``, ``ray::RuntimeEnvAgent``), or anything else (a model trainer)."""
    line = " ".join(cmdline)
    title = line.split(" ", 1)[0]
    if (title.startswith("ray::") and not title.endswith("Agent")) or "default_worker.py" in line:
        return RAY_WORKER
    return RAY_DAEMON if title.startswith("ray::") or "/ray/" in line else OTHER


class Sampler(threading.Thread):
    """Samples (time, self MB, other children MB, ru_maxrss MB, Ray workers MB, Ray daemons MB)."""

    def __init__(self, interval: float):
        super().__init__(daemon=True)
        import psutil

        self.proc = psutil.Process()
        self.interval = interval
        self.samples: list[tuple[float, float, float, float, float, float]] = []
        self.kinds: dict[int, int] = {}  # pid -> process_kind (a worker keeps its kind when it retitles)
        self.stop = threading.Event()

    def run(self) -> None:
        import psutil

        while not self.stop.is_set():
            me = self.proc.memory_info().rss
            by_kind = [0, 0, 0]
            for c in self.proc.children(recursive=True):
                try:
                    kind = self.kinds.get(c.pid)
                    if kind is None or kind == RAY_DAEMON:
                        kind = self.kinds[c.pid] = process_kind(c.cmdline())
                    by_kind[kind] += c.memory_info().rss
                except psutil.Error:
                    pass
            self.samples.append((time.time(), me / 2**20, by_kind[OTHER] / 2**20,
                                 resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                                 by_kind[RAY_WORKER] / 2**20, by_kind[RAY_DAEMON] / 2**20))
            self.stop.wait(self.interval)


def start_loopback_ray(workers: int):
    """A Ray cluster on 127.0.0.1 (call inside a private network namespace): a head with 0 CPUs, so only the
    ``workers`` worker nodes (1 CPU each) run tasks; the job's stages are pointed at it."""
    from ray.cluster_utils import Cluster

    node = dict(num_cpus=1, memory=3 * 1024 ** 3, node_ip_address="127.0.0.1")
    cluster = Cluster(initialize_head=True, head_node_args=dict(node, num_cpus=0, include_dashboard=False))
    for _ in range(workers):
        cluster.add_node(**node)
    cluster.wait_for_nodes()
    os.environ.update(CORPUS_EXECUTOR="ray", RAY_ADDRESS=cluster.address)
    return cluster


RATE_KEYS = ("docs_in", "docs_out", "docs", "train_tokens")  # the stages' document (token) counts: rates, shares


def executor_metadata(result) -> dict[str, dict]:
    """Per asset that names an executor: its executor figures and document counts (the unpartitioned
    materialization; commoncrawl_documents also records one per file partition)."""
    out = {}
    for event in result.get_asset_materialization_events():
        m = event.materialization
        md = {k: v.value for k, v in m.metadata.items() if k.startswith("executor") or k in RATE_KEYS}
        if "executor" in md and m.partition is None:
            out[m.asset_key.to_user_string()] = md
    return out


def profile(raw: str, data_root: str, interval: float, workers: int = 0) -> dict:
    """The job on ``raw`` in this process (``workers`` > 0: on a loopback Ray cluster of that many nodes)."""
    os.environ["CORPUS_RAW_DIR"] = raw
    os.environ["CORPUS_DATA_ROOT"] = data_root
    os.environ["DAGSTER_HOME"] = str(Path(data_root) / "dagster_home")
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    import dagster as dg

    from pipelines.definitions import defs

    instance = dg.DagsterInstance.ephemeral()
    cluster = start_loopback_ray(workers) if workers else None
    sampler = Sampler(interval)
    sampler.start()
    t0, c0 = time.time(), common.cpu_seconds()
    result = defs.resolve_job_def("build_corpus").execute_in_process(instance=instance)
    os_t = os.times()
    cpu_s = os_t.user + os_t.system + os_t.children_user + os_t.children_system - c0
    sampler.stop.set()
    sampler.join()
    driver_peak_mb = common.self_peak_rss_mb()  # this process or a trainer it waited for; Ray's are still up
    if cluster is not None:
        import ray

        ray.shutdown()
        cluster.shutdown()
    steps: dict[str, dict] = {}
    for entry in instance.all_logs(result.run_id):
        ev = entry.dagster_event
        if ev is None or not entry.step_key:
            continue
        s = steps.setdefault(entry.step_key, {})
        if ev.event_type_value == "STEP_START":
            s["start"] = entry.timestamp
        elif ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            s["end"] = entry.timestamp
            s["status"] = ev.event_type_value
    rows = []
    for key, s in steps.items():
        if "start" not in s or "end" not in s:
            continue
        inside = [x for x in sampler.samples if s["start"] <= x[0] <= s["end"]]
        before = [x for x in sampler.samples if x[0] <= s["start"]]
        after = [x for x in sampler.samples if x[0] >= s["end"]]
        start_rss = before[-1][1] if before else (inside[0][1] if inside else None)
        peak_self = max((x[1] for x in inside), default=start_rss)
        rows.append({"step": key, "status": s.get("status"), "start_s": s["start"] - t0, "secs": s["end"] - s["start"],
                     "rss_start_mb": start_rss, "rss_peak_mb": peak_self,
                     "rise_mb": None if start_rss is None else peak_self - start_rss,
                     "children_peak_mb": max((x[2] for x in inside), default=0.0),
                     "workers_peak_mb": max((x[4] for x in inside), default=0.0),
                     "ray_daemons_peak_mb": max((x[5] for x in inside), default=0.0),
                     "maxrss_end_mb": (after[0][3] if after else sampler.samples[-1][3]), "samples": len(inside)})
    rows.sort(key=lambda r: r["start_s"])
    prev_max = sampler.samples[0][3] if sampler.samples else 0.0
    for r in rows:
        r["maxrss_raised_mb"] = max(0.0, r["maxrss_end_mb"] - prev_max)
        prev_max = max(prev_max, r["maxrss_end_mb"])
    ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ru_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    peak_step = max(rows, key=lambda r: r["rss_peak_mb"] or 0) if rows else None
    return {"success": result.success, "wall_s": time.time() - t0, "cpu_s": cpu_s, "ru_maxrss_self_mb": ru,
            "ru_maxrss_children_mb": ru_children, "peak_step": peak_step and peak_step["step"],
            "executor": "ray" if workers else "in-process", "workers": workers, "peak_rss_mb": driver_peak_mb,
            "workers_peak_mb": max((x[4] for x in sampler.samples), default=0.0),
            "ray_daemons_peak_mb": max((x[5] for x in sampler.samples), default=0.0),
            "load_average": common.load_average(), "stages": executor_metadata(result),
            "steps": rows, "documents": documents(Path(data_root)),
            "timeline": [(round(x[0] - t0, 2), round(x[1]), round(x[2]), round(x[4])) for x in sampler.samples]}


def documents(data_root: Path) -> dict[str, dict[str, int]]:
    """Rows of the complete parts per document stage and source (from the Parquet footers)."""
    from corpus.storage import Layout

    layout = Layout(data_root)
    stages = sorted(p.name for p in (layout.data / "docs").iterdir() if p.is_dir())
    return {stage: {source: sum(pq.ParquetFile(p).metadata.num_rows for p in layout.docs_parts(stage, source))
                    for source in layout.sources("docs", stage)} for stage in stages}


def profile_command(raw: Path, data: Path, interval: float, workers: int) -> list[str]:
    """The child that profiles one build (under Ray: in its own network namespace, where it starts the cluster)."""
    cmd = [str(common.VENV_PY), "-m", "benchmarks.profile_scaling_memory", "--interval", str(interval),
           "--workers", str(workers), "--child", str(raw), str(data)]
    return common.in_private_netns(cmd) if workers else cmd


def table(res: dict) -> str:
    lines = [f"success={res['success']} executor {res['executor']} ({res['workers']} worker node(s)) wall {res['wall_s']:.0f}s "
             f"driver peak {res['peak_rss_mb']:.0f} MB (ru_maxrss self {res['ru_maxrss_self_mb']:.0f} MB), Ray workers' "
             f"peak sum {res['workers_peak_mb']:.0f} MB, Ray daemons {res['ray_daemons_peak_mb']:.0f} MB; "
             f"peak set in step: {res['peak_step']}; load average {res['load_average']}",
             f"{'step':48s} {'start s':>7s} {'secs':>6s} {'RSS0':>6s} {'peak':>6s} {'rise':>6s} {'kids':>6s} "
             f"{'workers':>7s} {'maxrss+':>7s}"]
    for r in res["steps"]:
        lines.append(f"{r['step'][:48]:48s} {r['start_s']:7.1f} {r['secs']:6.1f} {r['rss_start_mb'] or 0:6.0f} "
                     f"{r['rss_peak_mb'] or 0:6.0f} {r['rise_mb'] or 0:6.0f} {r['children_peak_mb']:6.0f} "
                     f"{r['workers_peak_mb']:7.0f} {r['maxrss_raised_mb']:7.0f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "corpus-bench" / "memprof"))
    ap.add_argument("--reuse-raw", action="store_true", help="keep an existing raw-<scale>x under --work")
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--json")
    ap.add_argument("--executor", choices=("in-process", "ray"), default="in-process")
    ap.add_argument("--workers", type=int, default=None, help="Ray worker nodes (default 2 under --executor ray)")
    ap.add_argument("--child", nargs=2)
    args = ap.parse_args()
    workers = (args.workers if args.workers is not None else 2) if args.executor == "ray" else (args.workers or 0)
    if args.child:
        res = profile(*args.child, args.interval, workers)
        common.emit(res)
        return
    work = Path(args.work)
    raw = work / f"raw-{args.scale}x"
    if not (args.reuse_raw and raw.exists()):
        raw = bench_scaling.build_raw(work, args.scale)
    data = work / f"data-{args.scale}x"
    shutil.rmtree(data, ignore_errors=True)
    res = common.run_json(profile_command(raw, data, args.interval, workers),
                          env={"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"), "RAY_ADDRESS": ""})
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    print(table(res))


if __name__ == "__main__":
    main()
