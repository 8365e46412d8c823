"""Throughput (documents/s per core) of each LLaMA-3 stage in one run, each beside its reference where one runs on
CPU here: datatrove 0.10.1's heuristic filters, its ``URLFilter`` and its ``FastTextClassifierFilter``.

    PYTHONPATH=. .venv/bin/python -m benchmarks.bench_llama3 [--copies 6] [--runs 3] [--domains 1000000] [--json OUT]

Input: the samples' web pages (our CommonCrawl ingest of every file under commoncrawl/, plus the C4
documents: 348), ``--copies`` times over (a copy's text is the same; the filters keep no state across
documents), as one Arrow batch per 1,000 documents, the batch size of the stages. The process is pinned to
one core with every thread pool at 1; a heuristic's figure is the median over ``--runs``. The other stages
run once each on as many documents, as their own benchmarks run them: the URL filter and the quality
classifier in one-core subprocesses (``benchmarks.bench_url_quality``: UT1-sized lists, a model trained on
the samples), semantic dedup in this process (``benchmarks.bench_semantic_dedup``: embedding + clustering is
the stage; training its embedding model is a row of its own). Semantic dedup has no CPU reference: NeMo
Curator's SemDeDup runs on GPUs (RAPIDS).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Callable

import pyarrow as pa

from benchmarks import bench_semantic_dedup, bench_url_quality, common, heuristics_agreement
from corpus.filters import c4_rules, fineweb, gopher
from corpus.schema import documents_to_batch, new_document

BATCH_DOCS = 1000
Stage = Callable[[pa.RecordBatch], object]


def heuristic_stages() -> dict[str, Stage]:
    return {"gopher": gopher.GopherFilter("commoncrawl"), "c4_rules": c4_rules.C4RulesFilter("commoncrawl"),
            "fineweb_rules": fineweb.FineWebFilter("commoncrawl")}


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


def _row(docs: int, cpu_s: float, reference: str | None = None, ref: dict | None = None, runs: int = 1) -> dict:
    return {"docs": docs, "cpu_s": round(cpu_s, 3), "docs_per_s_per_core": round(docs / cpu_s, 1) if cpu_s else None,
            "runs": runs, "reference": reference, "reference_docs_per_s_per_core": (ref or {}).get("docs_per_s_per_core")}


def report_rows(result: dict) -> dict[str, dict]:
    """One row per stage: ours, and the reference's docs/s per core on the same documents."""
    rows = {}
    for name, family in (("gopher", "gopher"), ("c4_rules", "c4"), ("fineweb_rules", "fineweb")):
        r = result["stages"][name]
        rows[name] = _row(r["docs"], r["cpu_s"], f"datatrove {family}", result["datatrove"].get(f"datatrove {family}"),
                          result["runs"])
    url, quality = result["url_quality"]["url_filter"], result["url_quality"]["quality_classifier"]
    rows["url_filter: URL part (blocklists, URL words)"] = _row(url["docs"], url["url_only"]["cpu_s"],
                                                                "datatrove URLFilter", url.get("datatrove"))
    rows["url_filter: stage (URL part + dirty words in the text)"] = _row(url["docs"], url["cpu_s"],
                                                                          "none (datatrove has no dirty-word count)")
    rows["quality_classifier: scoring pass (normalise + predict)"] = _row(
        quality["docs"], quality["score_pass_cpu_s"], "datatrove FastTextClassifierFilter", quality.get("datatrove"))
    rows["quality_classifier: stage (scoring pass + filter pass)"] = _row(quality["docs"], quality["cpu_s"])
    sem = result["semantic_dedup"]
    rows["semantic_dedup"] = _row(sem["docs"], sem["embed_cpu_s"] + sem["cluster_cpu_s"], "none on CPU (NeMo Curator: GPU)")
    rows["semantic_dedup model training"] = _row(sem["docs"], sem["train_cpu_s"])
    return rows


def markdown_table(rows: dict[str, dict]) -> str:
    lines = ["| stage | docs | runs | CPU s | docs/s per core | reference | reference docs/s per core |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {name} | {r['docs']} | {r['runs']} | {r['cpu_s']} | {r['docs_per_s_per_core']} | {r['reference'] or ''} | "
              f"{r['reference_docs_per_s_per_core'] if r['reference_docs_per_s_per_core'] is not None else ''} |"
              for name, r in rows.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=6)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--domains", type=int, default=1_000_000, help="blocklisted domains of the URL filter's lists")
    ap.add_argument("--samples", type=Path, default=common.SAMPLES)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    common.pin_one_core()
    docs = heuristics_agreement.sample_documents(args.samples)
    data = batches(docs, args.copies)
    n = sum(b.num_rows for b in data)
    t0 = time.perf_counter()
    result = {"input_docs": n, "copies": args.copies, "runs": args.runs,
              "stages": measure(heuristic_stages(), data, args.runs),
              "datatrove": measure_datatrove(docs, args.copies, args.runs),
              "url_quality": bench_url_quality.bench(n, args.domains),
              "semantic_dedup": bench_semantic_dedup.bench_semantic_dedup(n)}
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    result["rows"] = report_rows(result)
    print(markdown_table(result["rows"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
