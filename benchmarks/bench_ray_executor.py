"""Per-stage throughput of the part stages on a Ray cluster of 1 vs 2 worker nodes (1 CPU each) on this machine,
the parallel efficiency, and the cost of one 24 TB Common Crawl snapshot extrapolated in core-hours from the
measured per-core rates, next to CCNet's ~45,000 (RECIPE.md: 9 h on 5,000 cores).

Input: the samples (every source: the quality models train on them) plus ``--files`` WET files of ``--docs``
documents each derived from the samples' texts (``benchmarks.common.write_wet``). Setup: the Common Crawl chain
and its upstream are materialized once in process (or ``--data-root``: a copy of a finished samples build, whose
models are reused; the first measured pass then also computes the new files' side tables, outside the measured
part work). Then, for each cluster size, inside a private network
namespace (``unshare -n``; every node bound to 127.0.0.1; the head has 0 CPUs, so only worker nodes run tasks),
each part stage of the chain has its Common Crawl parts removed and is materialized alone with
``CORPUS_EXECUTOR=ray``: its side tables in ``work/`` are current, so what it computes is its parts, one Ray
task each. The rate is ``executor_docs_in / executor_seconds`` (the stage's metadata: part work from the first
submission to the last result). The machine is shared: figures are noisy.

    .venv/bin/python -m benchmarks.bench_ray_executor [--files 6] [--docs 300] [--data-root DONE] [--json OUT]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import common

# the part stages of the Common Crawl chain: (asset, stage)
STAGES = [("commoncrawl_documents", "ingest"), ("cc_line_dedup", "line_dedup"), ("cc_language_id", "langid"),
          ("cc_perplexity", "perplexity"), ("cc_wikiref", "wikiref")]
SNAPSHOT_WET_BYTES = 24e12  # CCNet 4.3 (RECIPE.md): a snapshot is 24 TB of WET, 1,600 shards
CCNET_CORE_HOURS = 9 * 5000  # the same snapshot in ~9 h on 5,000 cores
NODE = dict(num_cpus=1, memory=3 * 1024 ** 3, node_ip_address="127.0.0.1")


def build_raw(root: Path, files: int, docs: int) -> dict:
    """The samples (linked) plus the derived WET files under commoncrawl/CC-MAIN-2024-22-bench/."""
    raw = root / "raw"
    raw.mkdir(parents=True)
    for source in common.SAMPLES.iterdir():
        if source.is_dir() and source.name != "commoncrawl":
            (raw / source.name).symlink_to(source)
    cc = raw / "commoncrawl"
    cc.mkdir()
    for sub in (common.SAMPLES / "commoncrawl").iterdir():
        if sub.is_dir():
            (cc / sub.name).symlink_to(sub)
    texts = common.derived_documents(files * docs, seed=0)
    sizes = [common.write_wet(cc / "CC-MAIN-2024-22-bench" / f"bench-{i:05d}.warc.wet.gz",
                              texts[i * docs:(i + 1) * docs], seed=i) for i in range(files)]
    return {"raw": str(raw), "bench_docs": sum(s["docs"] for s in sizes), "bench_raw_bytes": sum(s["raw_bytes"] for s in sizes)}


def _materialize(asset: str, upstream: bool = False) -> dict:
    import dagster as dg

    from pipelines import defs

    selection = dg.AssetSelection.assets(asset).upstream() if upstream else dg.AssetSelection.assets(asset)
    keys = list(selection.resolve(defs.resolve_asset_graph()))
    result = defs.resolve_job_def("build_corpus").execute_in_process(asset_selection=keys)
    assert result.success, asset
    # the run's own materialization (commoncrawl_documents also records one per file partition it ingested)
    [md] = [m.metadata for m in result.asset_materializations_for_node(asset) if m.partition is None]
    return {k: v.value for k, v in md.items() if k.startswith("executor") or k in ("docs_in", "seconds")}


def _remove_parts(data: Path, stage: str) -> None:
    for tree in ("docs", "dropped", "funnel"):
        for p in (data / tree / stage / "commoncrawl").glob("*.parquet"):
            p.unlink()


def child(workers: int) -> None:
    """Inside the namespace: a head with 0 CPUs and ``workers`` worker nodes, then each stage alone."""
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args=dict(NODE, num_cpus=0, include_dashboard=False))
    for _ in range(workers):
        cluster.add_node(**NODE)
    cluster.wait_for_nodes()
    os.environ.update(CORPUS_EXECUTOR="ray", RAY_ADDRESS=cluster.address)
    data = Path(os.environ["CORPUS_DATA_ROOT"])
    out = {}
    for asset, stage in STAGES:
        _remove_parts(data, stage)
        out[stage] = _materialize(asset)
    ray.shutdown()
    cluster.shutdown()
    common.emit({"workers": workers, "stages": out})


def _rate(md: dict) -> float:
    return md["executor_docs_in"] / md["executor_seconds"] if md["executor_seconds"] else float("nan")


def extrapolate(one: dict, ingest_docs: int, bytes_per_doc: float) -> dict:
    """Core-hours of one snapshot: each stage's documents at snapshot scale (the stage's share of the ingested
    documents here, times the snapshot's documents at the bench WET's bytes per document) over its 1-worker
    (1-core) rate."""
    snapshot_docs = SNAPSHOT_WET_BYTES / bytes_per_doc
    hours = {stage: one[stage]["executor_docs_in"] / ingest_docs * snapshot_docs / _rate(one[stage]) / 3600
             for _, stage in STAGES}
    return {"snapshot_docs": snapshot_docs, "core_hours_per_stage": hours, "core_hours": sum(hours.values()),
            "ccnet_core_hours": CCNET_CORE_HOURS}


def table(runs: dict, extra: dict) -> str:
    lines = ["| stage | docs | 1 worker docs/s | 2 workers docs/s | speed-up | parallel efficiency |",
             "|---|---|---|---|---|---|"]
    for _, stage in STAGES:
        one, two = runs[1][stage], runs[2][stage]
        speedup = _rate(two) / _rate(one)
        lines.append(f"| {stage} | {one['executor_docs_in']} | {_rate(one):,.1f} | {_rate(two):,.1f} | "
                     f"{speedup:.2f}x | {speedup / 2:.0%} |")
    lines.append("")
    lines.append(f"one 24 TB snapshot (~{extra['snapshot_docs']:,.0f} documents at the bench WET's bytes per document): "
                 f"{extra['core_hours']:,.0f} core-hours for these stages at the measured 1-core rates "
                 f"({', '.join(f'{s} {h:,.0f}' for s, h in extra['core_hours_per_stage'].items())}); "
                 f"CCNet: {extra['ccnet_core_hours']:,} core-hours (9 h on 5,000 cores, the whole mining pipeline)")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=6)
    ap.add_argument("--docs", type=int, default=300)
    ap.add_argument("--data-root", default=None, help="a finished samples build to start from (copied)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        return child(args.child)
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        root = Path(tmp)
        info = build_raw(root, args.files, args.docs)
        (root / "home").mkdir()
        (root / "home" / "dagster.yaml").write_text((common.REPO / "dagster.yaml").read_text())
        env = dict(os.environ, CORPUS_DATA_ROOT=str(root / "data"), CORPUS_RAW_DIR=info["raw"],
                   DAGSTER_HOME=str(root / "home"), PYTHONPATH=str(common.REPO), CORPUS_EXECUTOR="in-process")
        if args.data_root:
            shutil.copytree(args.data_root, root / "data", symlinks=True)
        else:
            setup = subprocess.run([sys.executable, "-c", "from benchmarks.bench_ray_executor import _materialize; "
                                    "_materialize('cc_wikiref', upstream=True)"], cwd=common.REPO, env=env,
                                   capture_output=True, text=True)
            assert setup.returncode == 0, setup.stderr[-3000:]
        runs = {}
        for workers in (1, 2):
            cmd = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" -m benchmarks.bench_ray_executor "$@"',
                   sys.executable, "--child", str(workers)]
            runs[workers] = common.run_json(cmd, env=env)["stages"]
        from corpus.storage import Layout, read_table

        layout = Layout(root / "data")
        ingest_docs = sum(read_table(p).column("docs_in")[0].as_py() for p in layout.parts("funnel", "ingest", "commoncrawl"))
        extra = extrapolate(runs[1], ingest_docs, info["bench_raw_bytes"] / info["bench_docs"])
        result = {"input": info, "ingest_docs": ingest_docs, "runs": runs, "extrapolation": extra,
                  "table": table(runs, extra), "note": "2 shared cores, ~8 engineers at once: noisy"}
        common.report(result, args.json)
        print(result["table"])


if __name__ == "__main__":
    main()
