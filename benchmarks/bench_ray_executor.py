"""Per-stage throughput of ``build_corpus`` on a Ray cluster of 1 vs 2 worker nodes (1 CPU each) on this machine:
the part work of every stage and the side work of the shuffles (line-dedup hash counting per bucket, perplexity
scores, exact dedup's hash parts and buckets, MinHash signatures, LSH band partitions, token-shard ranges), the
parallel efficiency, and the cost of one 24 TB Common Crawl snapshot extrapolated in core-hours from the measured
1-core rates, next to CCNet's ~45,000 (RECIPE.md: 9 h on 5,000 cores).

Input: the samples (every source: the quality models train on them) plus ``--files`` WET files of ``--docs``
documents each derived from the samples' texts (``benchmarks.common.write_wet``). For each cluster size the
whole job runs once on a fresh data root (``profile_scaling_memory``'s child: inside ``unshare -n``, a head
with 0 CPUs and the worker nodes, every node on 127.0.0.1, ``CORPUS_EXECUTOR=ray``; the driver's and workers'
RSS are sampled too). Rates come from each stage's own metadata: part work ``executor_docs_in /
executor_seconds`` (first submission to last result), side work ``<count> / executor_side_seconds`` (the
driver's wait for its side tasks' results), the count being the stage's ``docs_in``, ``docs`` (MinHash, near
duplicates) or ``train_tokens`` (token shards: tokens/s). Efficiency = rate(2) / (2 rate(1)). The machine is
shared: the load average is printed next to the figures; rerun on idle cores before reading scaling from them.

    .venv/bin/python -m benchmarks.bench_ray_executor [--files 6] [--docs 300] [--json OUT]
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from benchmarks import common
from benchmarks.profile_scaling_memory import profile_command

SNAPSHOT_WET_BYTES = 24e12  # CCNet 4.3 (RECIPE.md): a snapshot is 24 TB of WET, 1,600 shards
CCNET_CORE_HOURS = 9 * 5000  # the same snapshot in ~9 h on 5,000 cores
CC_CHAIN = ("commoncrawl_documents", "cc_line_dedup", "cc_language_id", "cc_perplexity", "cc_wikiref")
CORPUS_DEDUP = ("exact_dedup", "minhash_signatures", "near_duplicates", "near_dedup")  # what a snapshot's documents go through next
LAST_CC_STAGE = "cc_wikiref"


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


def work_rows(stages: dict[str, dict]) -> dict[str, dict]:
    """One row per kind of work a stage did: ``<asset> parts`` (its part tasks) and ``<asset> side`` (its
    ``Executor.map`` tasks), each with its count, unit, seconds and tasks."""
    rows = {}
    for asset, md in sorted(stages.items()):
        if md.get("executor_part_tasks"):
            rows[f"{asset} parts"] = {"asset": asset, "count": md["executor_docs_in"], "unit": "docs",
                                      "seconds": md["executor_seconds"], "tasks": md["executor_part_tasks"]}
        if md.get("executor_side_tasks"):
            key = next(k for k in ("docs_in", "docs", "train_tokens") if k in md)
            rows[f"{asset} side"] = {"asset": asset, "count": md[key], "unit": "tokens" if key == "train_tokens" else "docs",
                                     "seconds": md["executor_side_seconds"], "tasks": md["executor_side_tasks"]}
    return rows


def rate(row: dict) -> float:
    return row["count"] / row["seconds"] if row["seconds"] else float("nan")


def extrapolate(one: dict[str, dict], stages: dict[str, dict], bytes_per_doc: float) -> dict:
    """Core-hours of one snapshot from the 1-worker (1-core) rates: each Common Crawl stage's documents at
    snapshot scale in proportion to what reached it here (its count over the ingested documents), and the
    corpus-wide dedup steps' at the share of Common Crawl documents that reached them (``cc_wikiref``'s output),
    at their measured rate per document (over every source's documents here)."""
    snapshot_docs = SNAPSHOT_WET_BYTES / bytes_per_doc
    ingest = stages["commoncrawl_documents"]["executor_docs_in"]
    reaching_dedup = stages[LAST_CC_STAGE]["docs_out"] / ingest
    hours = {}
    for name, row in one.items():
        if row["asset"] in CC_CHAIN:
            hours[name] = row["count"] / ingest * snapshot_docs / rate(row) / 3600
        elif row["asset"] in CORPUS_DEDUP:
            hours[name] = reaching_dedup * snapshot_docs / rate(row) / 3600
    cc = sum(h for n, h in hours.items() if one[n]["asset"] in CC_CHAIN)
    return {"snapshot_docs": snapshot_docs, "core_hours_per_work": hours, "core_hours_cc_chain": cc,
            "core_hours": sum(hours.values()), "ccnet_core_hours": CCNET_CORE_HOURS}


def table(runs: dict, extra: dict) -> str:
    one, two = work_rows(runs[1]["stages"]), work_rows(runs[2]["stages"])
    lines = [f"load average (1, 5, 15 min) at the end of the run: 1 worker {runs[1]['load_average']}, "
             f"2 workers {runs[2]['load_average']}; {os.cpu_count()} cores", "",
             "| work | tasks | count | 1 worker /s | 2 workers /s | speed-up | parallel efficiency |",
             "|---|---|---|---|---|---|---|"]
    for name, row in one.items():
        other = two.get(name)
        if other is None:
            continue
        speedup = rate(other) / rate(row)
        lines.append(f"| {name} | {row['tasks']} | {row['count']:,} {row['unit']} | {rate(row):,.1f} | {rate(other):,.1f} | "
                     f"{speedup:.2f}x | {speedup / 2:.0%} |")
    lines += ["", f"driver peak RSS: 1 worker {runs[1]['peak_rss_mb']:.0f} MB, 2 workers {runs[2]['peak_rss_mb']:.0f} MB; "
              f"Ray workers' peak (sum): {runs[1]['workers_peak_mb']:.0f} MB, {runs[2]['workers_peak_mb']:.0f} MB; "
              f"whole job wall: {runs[1]['wall_s']:.0f} s, {runs[2]['wall_s']:.0f} s", ""]
    per = ", ".join(f"{n} {h:,.0f}" for n, h in extra["core_hours_per_work"].items())
    lines.append(f"one 24 TB snapshot (~{extra['snapshot_docs']:,.0f} documents at the bench WET's bytes per document) "
                 f"at the measured 1-core rates: {extra['core_hours_cc_chain']:,.0f} core-hours for the Common Crawl "
                 f"chain, {extra['core_hours']:,.0f} with exact and near dedup ({per}); CCNet: "
                 f"{extra['ccnet_core_hours']:,} core-hours (9 h on 5,000 cores, its whole mining pipeline)")
    return "\n".join(lines)


def bench(files: int, docs: int, interval: float = 0.2) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        root = Path(tmp)
        info = build_raw(root, files, docs)
        runs = {}
        for workers in (1, 2):
            cmd = profile_command(Path(info["raw"]), root / f"data-{workers}", interval, workers)
            runs[workers] = common.run_json(cmd, env={"RAY_ADDRESS": ""})
            assert runs[workers]["success"], f"build_corpus failed on {workers} worker node(s)"
            for key in ("timeline", "steps"):
                runs[workers].pop(key)
    extra = extrapolate(work_rows(runs[1]["stages"]), runs[1]["stages"], info["bench_raw_bytes"] / info["bench_docs"])
    return {"input": info, "runs": runs, "extrapolation": extra, "table": table(runs, extra)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=6)
    ap.add_argument("--docs", type=int, default=300)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    result = bench(args.files, args.docs)
    common.report(result, args.json)
    print(result["table"])


if __name__ == "__main__":
    main()
