"""Run every benchmark and write ``benchmarks/results/report.md`` and ``report.json``, and the committed
``benchmarks/BENCHMARKS.md`` (the latest report, with its date, machine and command; ``make bench``).

    python -m benchmarks.run_all [--docs 4000] [--runs 3] [--with-scaling] [--reuse]

- CommonCrawl chain, ours vs datatrove (``bench_cc_chain``; datatrove from benchmarks/.venv-datatrove,
  built by ``bash benchmarks/setup_datatrove_env.sh``; skipped with a note when absent);
- per-stage throughput on one core next to gunzip / xxh3 of the same bytes (``bench_stages``);
- the LLaMA-3 stages (URL filter, Gopher / C4 / FineWeb rules, quality classifier, semantic dedup), each
  beside its datatrove reference where one runs on CPU (``bench_llama3``, one pinned subprocess; it runs
  ``bench_url_quality`` and ``bench_semantic_dedup``, so those are not run again among the others);
- 1x vs 10x ``build_corpus`` (``bench_scaling``, only with ``--with-scaling``: it trains every model twice,
  about two minutes on a shared 2-core machine; ``benchmarks.profile_scaling_memory`` says which step
  sets its peak RSS), in process and again under Ray (2 loopback worker nodes: the driver's peak RSS next to
  the workers'), and the per-stage rates on 1 vs 2 Ray worker nodes with the 24 TB snapshot's core-hours
  (``bench_ray_executor``); the Ray runs take several minutes more;
- the other ``benchmarks/bench_*.py`` scripts, each run as a subprocess; their output tail is kept.

Every figure is a median over ``--runs`` fresh subprocesses; ratios are taken within a run. ``--reuse``
reads a benchmark's ``results/<name>.json`` from an earlier run instead of running it again.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import common

OWN = ("bench_cc_chain", "bench_stages", "bench_scaling", "bench_llama3", "bench_url_quality", "bench_semantic_dedup",
       "bench_ray_executor")
COMMITTED_REPORT = common.REPO / "benchmarks" / "BENCHMARKS.md"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        return None


def committed_report(report: dict) -> str:
    """BENCHMARKS.md: where, when and how the figures below were measured, then the report."""
    m = report["machine"]
    return "\n".join([
        "# Benchmarks", "",
        "The latest report of `make bench` (`benchmarks/run_all.py` writes this file; rerun it to refresh).", "",
        f"- date: {report['generated']}",
        f"- machine: {m['cpu']}, {m['cores']} cores ({m['affinity']} usable), "
        f"{_f(m['memory_gib'], '{:.0f}')} GiB memory, {m['platform']}, Python {m['python']}",
        f"- command: `{report['command']}`",
        markdown(report).split("\n", 1)[1]])


def _load_or_run(name: str, reuse: bool, fn) -> dict:
    path = common.RESULTS / f"{name}.json"
    if reuse and path.exists():
        return json.loads(path.read_text())
    result = fn()
    path.write_text(json.dumps(result, indent=2))
    return result


def _llama3(runs: int) -> dict:
    """``bench_llama3`` in a subprocess of its own (it pins itself to one core), its JSON result."""
    out = common.RESULTS / "llama3.json"
    env = {**os.environ, **common.SINGLE_THREAD_ENV, "PYTHONPATH": str(common.REPO)}
    subprocess.run([str(common.VENV_PY), "-m", "benchmarks.bench_llama3", "--runs", str(runs), "--json", str(out)],
                   cwd=common.REPO, env=env, check=True, capture_output=True)
    return json.loads(out.read_text())


def _others(timeout: int) -> dict:
    out = {}
    for script in sorted((common.REPO / "benchmarks").glob("bench_*.py")):
        if script.stem in OWN:
            continue
        t0 = time.perf_counter()
        env = {**os.environ, **common.SINGLE_THREAD_ENV, "PYTHONPATH": str(common.REPO)}
        try:
            proc = subprocess.run([str(common.VENV_PY), "-m", f"benchmarks.{script.stem}"], cwd=common.REPO, env=env,
                                  capture_output=True, text=True, timeout=timeout)
            status, tail = ("ok" if proc.returncode == 0 else f"exit {proc.returncode}"), (proc.stdout + proc.stderr)[-3000:]
        except subprocess.TimeoutExpired as exc:
            status, tail = f"timeout {timeout}s", str(exc.stdout or "")[-3000:]
        out[script.stem] = {"status": status, "wall_s": time.perf_counter() - t0, "output_tail": tail}
        print(f"[run_all] {script.stem}: {status}", file=sys.stderr)
    return out


def _f(x, fmt="{:,.1f}") -> str:
    return "n/a" if x is None else fmt.format(x)


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = ["# Benchmark report", "",
             f"Machine: {m['cores']} cores visible ({m['platform']}, Python {m['python']}); "
             f"load average at start {m['loadavg_start']}. **The machine was shared with other agents**: "
             "wall times are noisy, so throughput is per CPU-second of a process pinned to one core, and "
             "every ratio is taken within one run (both tools see the same load). Medians of "
             f"{report['runs']} runs. Generated {report['generated']}.", ""]
    cc = report.get("cc_chain")
    if cc and cc.get("datatrove") and cc.get("speedup_cpu_median") is None:
        cc["speedup_cpu_median"] = cc["datatrove"]["cpu_s"] / cc["ours"]["cpu_s"]  # ratio of medians
    if cc:
        o, d = cc["ours"], cc.get("datatrove") or {}
        lines += ["## CommonCrawl chain: ours vs datatrove (one core each)", "",
                  f"Input: {cc['input']['docs']:,} WET documents ({cc['input']['raw_mb']:.1f} MB of WARC, "
                  f"{cc['input']['gz_mb']:.1f} MB gzipped) derived from ../shared/samples. Chain: parse -> line dedup -> "
                  "fastText LID (lid.176.ftz, same file) -> Gopher quality + repetition -> Parquet (zstd).", "",
                  "| tool | docs/s/core (CPU) | docs/s (wall) | MB/s/core (CPU) | CPU s | wall s | docs out | peak RSS MB |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, r in (("ours", o), ("datatrove 0.10.1", d)):
            if r:
                n = cc["input"]["docs"]
                lines.append(f"| {name} | {_f(n / r['cpu_s'])} | {_f(n / r['wall_s'])} | {_f(cc['input']['raw_mb'] / r['cpu_s'], '{:.2f}')} | "
                             f"{_f(r['cpu_s'])} | {_f(r['wall_s'])} | {r['docs_out']:,} | {_f(r['peak_rss_mb'], '{:.0f}')} |")
        if d:
            lines += ["", f"**Speed-up (datatrove time / ours), CPU: {_f(cc.get('speedup_cpu_median'), '{:.2f}')}x; "
                      f"wall: {_f(cc.get('speedup_median'), '{:.2f}')}x** (goal >= 1.5x). Per-run wall ratios: "
                      f"{[round(x, 2) for x in cc.get('ratio_runs', [])]}.",
                      f"Kept-document agreement (by URL): {cc.get('kept_overlap')}.", "",
                      f"Ours, seconds per step (median): {json.dumps({k: round(v, 2) for k, v in o['steps_s'].items()})}; "
                      f"datatrove: {json.dumps({k: round(v, 2) for k, v in d['steps_s'].items()})}.",
                      f"Ours, drops by reason: {json.dumps(o.get('reasons'))}."]
            if d.get("datatrove_step_time_s"):
                lines.append(f"datatrove's own per-step timings (its stats.json): {json.dumps(d['datatrove_step_time_s'])}.")
        else:
            lines += ["", "datatrove is not installed (run `bash benchmarks/setup_datatrove_env.sh`): no ratio."]
        lines.append("")
    st = report.get("stages")
    if st:
        lines += ["## Per-stage throughput, one core, vs the physical references (same run, same bytes)", "",
                  "| stage | docs | MB in | docs/s | MB/s | x slower than gunzip |", "|---|---|---|---|---|---|"]
        for name, s in st["stages"].items():
            lines.append(f"| {name} | {s['docs'] if s['docs'] is not None else ''} | {s['mb']:.1f} | {_f(s['docs_per_s'], '{:,.0f}')} | "
                         f"{_f(s['mb_per_s'], '{:,.1f}')} | {_f(s['x_slower_than_gunzip'], '{:,.1f}')} |")
        lines += ["", "MB = UTF-8 text bytes of the stage's input (parse: the decompressed WARC bytes). Per CPU-second, median "
                  f"of {st['runs']} runs; peak RSS {st['peak_rss_mb']:.0f} MB. Perplexity, MinHash and tokenization run "
                  "on the documents LID kept (English).", ""]
    ll = report.get("llama3")
    if ll:
        from benchmarks import bench_llama3

        lines += ["## LLaMA-3 stages, one core, with their references (same run)", "",
                  bench_llama3.markdown_table(ll["rows"]), "",
                  f"Input: the samples' {ll['input_docs'] // ll['copies']} web and C4 pages, {ll['copies']} copies "
                  f"({ll['input_docs']:,} documents; semantic dedup: as many derived documents). docs/s per CPU-second "
                  "of a process pinned to one core; `runs`: the heuristics' figures are medians, the others one run "
                  "each. Like-for-like rows sit beside their reference: the URL filter's URL part (our lists, "
                  "UT1-sized) vs datatrove's URLFilter with the same lists, our quality scoring pass vs "
                  "FastTextClassifierFilter with the same model; the stage rows add what datatrove does not do "
                  "(the dirty-word count; the rank cut-off's filter pass).", ""]
    sc = report.get("scaling")
    if sc:
        from benchmarks import bench_scaling

        lines += ["## Scaling: build_corpus on 1x and 10x the input", "",
                  "| input | wall s | CPU s | peak RSS MB |", "|---|---|---|---|"]
        for k in ("1x", f"{sc['scale']}x"):
            r = sc[k]
            lines.append(f"| {k} | {r['wall_s']:.0f} | {r['cpu_s']:.0f} | {r['peak_rss_mb']:.0f} |")
        lines += ["", f"Time ratio {sc['time_ratio']:.2f}x (goal <= 11x), CPU ratio {sc['cpu_ratio']:.2f}x, "
                  f"peak RSS ratio {sc['rss_ratio']:.2f}x (goal <= 1.2x).", "",
                  "Per step (MB; `kids`: the model trainers it runs as child processes):", "", "```",
                  bench_scaling.table(sc), "```", ""]
        ray_sc = report.get("scaling_ray")
        lines += ["## Scaling under Ray: the driver's peak RSS, 1x and 10x", "",
                  "The same job with every stage's part and side tasks on a loopback Ray cluster (`unshare -n`, a head "
                  "with 0 CPUs and 2 worker nodes of 1 CPU, every node on 127.0.0.1): `peak` is the Dagster driver's own "
                  "RSS, `wrkr` the Ray worker processes' summed RSS (sampled). Command: `python -m benchmarks.bench_scaling "
                  "--executor ray --workers 2`.", "", "```", bench_scaling.table(ray_sc), "```", ""]
        rx = report["ray_executor"]
        lines += ["## Per-stage throughput on 1 vs 2 Ray worker nodes", "",
                  "Command: `python -m benchmarks.bench_ray_executor` (the samples plus "
                  f"{rx['input']['bench_docs']:,} derived WET documents; the whole job once per cluster size; rates "
                  "from each stage's `executor_*` metadata; efficiency = rate(2) / (2 rate(1))).", "", rx["table"], ""]
    else:
        lines += ["## Scaling", "", "Not run (optional: `python -m benchmarks.run_all --with-scaling`).", ""]
    oth = report.get("others")
    if oth:
        lines += ["## Other benchmarks (run as subprocesses)", "", "| script | status | wall s |", "|---|---|---|"]
        lines += [f"| {k} | {v['status']} | {v['wall_s']:.0f} |" for k, v in oth.items()]
        lines.append("")
        for k, v in oth.items():
            lines += [f"### {k}", "", "```", v["output_tail"].strip()[-1500:], "```", ""]
    if report.get("bottleneck"):
        lines += ["## Top bottleneck", "", report["bottleneck"], ""]
    return "\n".join(lines)


def bottleneck(report: dict) -> str | None:
    st = report.get("stages")
    if not st:
        return None
    stages = {k: v for k, v in st["stages"].items() if "reference" not in k and v.get("x_slower_than_gunzip")}
    name, s = max(stages.items(), key=lambda kv: kv[1]["x_slower_than_gunzip"])
    return (f"Slowest stage relative to gunzip of the same bytes: **{name}**, {s['x_slower_than_gunzip']:.0f}x slower "
            f"({_f(s['mb_per_s'], '{:.2f}')} MB/s, {_f(s['docs_per_s'], '{:,.0f}')} docs/s on one core).")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=4000, help="WET documents for the chain and stage benchmarks")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--with-scaling", action="store_true")
    ap.add_argument("--skip-others", action="store_true")
    ap.add_argument("--others-timeout", type=int, default=900)
    ap.add_argument("--reuse", action="store_true", help="reuse results/<name>.json of earlier runs")
    args = ap.parse_args()
    common.RESULTS.mkdir(parents=True, exist_ok=True)
    report: dict = {"generated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "runs": args.runs,
                    "command": " ".join(["python -m benchmarks.run_all", *sys.argv[1:]]),
                    "machine": {"cores": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
                                "cpu": _cpu_model(), "memory_gib": _memory_gib(),
                                "platform": platform.platform(), "python": platform.python_version(),
                                "loadavg_start": [round(x, 2) for x in os.getloadavg()]}}
    from benchmarks import bench_cc_chain, bench_ray_executor, bench_scaling, bench_stages

    report["cc_chain"] = _load_or_run("cc_chain", args.reuse, lambda: bench_cc_chain.bench(args.docs, args.runs))
    report["stages"] = _load_or_run("stages", args.reuse, lambda: bench_stages.bench(args.docs, args.runs))
    report["llama3"] = _load_or_run("llama3", args.reuse, lambda: _llama3(args.runs))
    if args.with_scaling:
        work = Path(os.environ.get("BENCH_WORK", "/tmp/corpus-bench")) / "scaling"
        report["scaling"] = _load_or_run("scaling", args.reuse, lambda: bench_scaling.bench(10, work))
        report["scaling_ray"] = _load_or_run("scaling_ray", args.reuse,
                                             lambda: bench_scaling.bench(10, work, workers=2, reuse_raw=True))
        report["ray_executor"] = _load_or_run("ray_executor", args.reuse, lambda: bench_ray_executor.bench(6, 300))
    if not args.skip_others:
        report["others"] = _others(args.others_timeout)
    report["bottleneck"] = bottleneck(report)
    report["peak_rss_mb_children"] = common.self_peak_rss_mb()
    (common.RESULTS / "report.json").write_text(json.dumps(report, indent=2))
    (common.RESULTS / "report.md").write_text(markdown(report))
    COMMITTED_REPORT.write_text(committed_report(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
