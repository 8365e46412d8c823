"""Throughput (documents/s per core) of each LLaMA-3 stage, and of datatrove 0.10.1's heuristic filters on
the same documents where it has one.

    PYTHONPATH=. .venv/bin/python -m benchmarks.bench_llama3 [--copies 6] [--runs 3] [--json OUT]

Input: the samples' web pages (our CommonCrawl ingest of every file under commoncrawl/, plus the C4
documents: 348), ``--copies`` times over (a copy's text is the same; the filters keep no state across
documents), as one Arrow batch per 1,000 documents, the batch size of the stages. The process is pinned to
one core with every thread pool at 1; a figure is the median over ``--runs``.

Other stages join the report with a module ``benchmarks/llama3_<name>.py`` that defines
``bench_stages() -> dict[str, Callable[[pa.RecordBatch], object]]`` (one callable per stage, run on each
batch; set-up such as training a model happens inside ``bench_stages``, outside the timing).
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import statistics
import time
from pathlib import Path
from typing import Callable

import pyarrow as pa

from benchmarks import common, heuristics_agreement
from corpus.filters import c4_rules, fineweb, gopher
from corpus.schema import documents_to_batch, new_document

BATCH_DOCS = 1000
Stage = Callable[[pa.RecordBatch], object]


def heuristic_stages() -> dict[str, Stage]:
    return {"gopher": gopher.GopherFilter("commoncrawl"), "c4_rules": c4_rules.C4RulesFilter("commoncrawl"),
            "fineweb_rules": fineweb.FineWebFilter("commoncrawl")}


def other_stages() -> dict[str, Stage]:
    """The stages of every ``benchmarks/llama3_<name>.py`` module."""
    out: dict[str, Stage] = {}
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
        if info.name.startswith("llama3_"):
            out.update(importlib.import_module(f"benchmarks.{info.name}").bench_stages())
    return out


def batches(docs: list[dict], copies: int) -> list[pa.RecordBatch]:
    rows = [new_document("commoncrawl", f"{k}:{d['id']}", d["text"]) for k in range(copies) for d in docs]
    return [documents_to_batch(rows[i:i + BATCH_DOCS]) for i in range(0, len(rows), BATCH_DOCS)]


def _time(fn: Callable[[], object]) -> float:
    c0 = common.cpu_seconds()
    fn()
    return common.cpu_seconds() - c0


def measure(stages: dict[str, Stage], data: list[pa.RecordBatch], runs: int) -> dict[str, dict]:
    n = sum(b.num_rows for b in data)
    out = {}
    for name, stage in stages.items():
        cpu = statistics.median(_time(lambda: [stage(b) for b in data]) for _ in range(runs))
        out[name] = {"docs": n, "cpu_s": round(cpu, 3), "docs_per_s_per_core": round(n / cpu, 1) if cpu else None}
    return out


def measure_datatrove(docs: list[dict], copies: int, runs: int) -> dict[str, dict]:
    """datatrove's filters, one ``filter(doc)`` call per document as its pipeline makes them."""
    try:
        filters = {f: heuristics_agreement.datatrove_filters(f) for f in ("gopher", "c4", "fineweb")}
    except ImportError:
        return {}
    texts = [d["text"] for _ in range(copies) for d in docs]
    out = {}
    for name, fs in filters.items():
        cpu = statistics.median(
            _time(lambda: [heuristics_agreement._dt_verdict(fs, t, i) for i, t in enumerate(texts)]) for _ in range(runs))
        out[f"datatrove {name}"] = {"docs": len(texts), "cpu_s": round(cpu, 3),
                                    "docs_per_s_per_core": round(len(texts) / cpu, 1) if cpu else None}
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=6)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--samples", type=Path, default=common.SAMPLES)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    os.environ.update(common.SINGLE_THREAD_ENV)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    docs = heuristics_agreement.sample_documents(args.samples)
    data = batches(docs, args.copies)
    t0 = time.perf_counter()
    result = {"input_docs": sum(b.num_rows for b in data), "copies": args.copies, "runs": args.runs,
              "stages": measure({**heuristic_stages(), **other_stages()}, data, args.runs),
              "datatrove": measure_datatrove(docs, args.copies, args.runs)}
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    print("| stage | docs | CPU s | docs/s per core |\n|---|---|---|---|")
    for name, r in {**result["stages"], **result["datatrove"]}.items():
        print(f"| {name} | {r['docs']} | {r['cpu_s']} | {r['docs_per_s_per_core']} |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
