"""CommonCrawl chain, ours vs datatrove, on the same WET file, one core each.

Input: a real-format ``.warc.wet.gz`` built by ``benchmarks.common.build_wet`` from ../shared/samples
(real text of every source and 41 languages, repeated with perturbation and site boilerplate).

Ours (the pure functions the Dagster assets call, no Dagster): ``commoncrawl.read_documents`` ->
ingest Parquet part (as the ingest asset writes it) -> ``line_dedup.hash_part`` + hash file +
``duplicate_hashes`` (DuckDB, 1 thread) -> ``LineDedupFilter`` -> ``LangIdFilter`` (lid.176, no
refiners) -> ``gopher.GopherFilter`` -> zstd Parquet. datatrove: benchmarks/datatrove_chain.py in
benchmarks/.venv-datatrove (see its docstring for its closest equivalents).

    .venv/bin/python -m benchmarks.bench_cc_chain [--docs 20000] [--runs 3] [--json OUT]

Each run is a fresh subprocess pinned to one core; the figure is the median over runs, and the
ratio is taken run by run (ours and datatrove alternate, so both see the same machine load).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import common

WET_DIR = Path(os.environ.get("BENCH_WORK", Path(tempfile.gettempdir()) / "corpus-bench")) / "cc_chain_wet"


def run_ours(wet_dir: Path, out_dir: Path) -> dict:
    """One run of our chain in this process (call it in a pinned subprocess)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from corpus.filters import gopher, langid as langid_filter, line_dedup
    from corpus.schema import DOCUMENT_SCHEMA, Drop, batches
    from corpus.sources import commoncrawl
    from corpus.storage import PARQUET_OPTIONS, iter_batches
    from quality_models import language_identifier

    out_dir.mkdir(parents=True, exist_ok=True)
    steps: dict[str, float] = {}
    cpu0, t0 = common.cpu_seconds(), time.perf_counter()
    identifier = language_identifier.LanguageIdentifier(common.LID_MODEL)
    docs_in = docs_out = 0
    reasons: dict[str, int] = {}
    kept_ids: list[str] = []
    for wet in sorted(wet_dir.glob("*.warc.wet.gz")):
        part = wet.name
        t = time.perf_counter()
        ingest = out_dir / f"ingest-{part}.parquet"
        with pq.ParquetWriter(ingest, DOCUMENT_SCHEMA, **PARQUET_OPTIONS) as w:
            def docs():
                nonlocal docs_in
                for r in commoncrawl.read_documents(wet, part):
                    docs_in += 1
                    if isinstance(r, Drop):
                        reasons[r.reason] = reasons.get(r.reason, 0) + 1
                        continue
                    yield r
            for b in batches(docs()):
                w.write_batch(b)
        steps["parse"] = steps.get("parse", 0.0) + time.perf_counter() - t
        t = time.perf_counter()
        hash_file, dups = common.line_dedup_one_part(iter_batches([ingest]), out_dir, part)
        steps["line_dedup_pass1"] = steps.get("line_dedup_pass1", 0.0) + time.perf_counter() - t
        dedup = line_dedup.LineDedupFilter(hash_file, dups, "commoncrawl")
        lid = langid_filter.LangIdFilter(identifier, "commoncrawl")
        gf = gopher.GopherFilter("commoncrawl")
        with pq.ParquetWriter(out_dir / f"out-{part}.parquet", DOCUMENT_SCHEMA, **PARQUET_OPTIONS) as w:
            for batch in iter_batches([ingest]):
                for name, fn in (("line_dedup_pass2", dedup), ("langid", lid), ("gopher", gf)):
                    t = time.perf_counter()
                    batch, dropped = fn(batch)
                    steps[name] = steps.get(name, 0.0) + time.perf_counter() - t
                    for r in dropped.column("reason").to_pylist():
                        key = r if name != "langid" else ("lang_score" if r.startswith("lang_score") else "lang_other")
                        reasons[key] = reasons.get(key, 0) + 1
                    if batch.num_rows == 0:
                        break
                t = time.perf_counter()
                if batch.num_rows:
                    w.write_table(pa.Table.from_batches([batch]).cast(DOCUMENT_SCHEMA))
                    docs_out += batch.num_rows
                    kept_ids += batch.column("url").to_pylist()
                steps["write"] = steps.get("write", 0.0) + time.perf_counter() - t
    return {"tool": "ours", "docs_in": docs_in - 0, "docs_out": docs_out, "wall_s": time.perf_counter() - t0,
            "cpu_s": common.cpu_seconds() - cpu0, "steps_s": steps, "reasons": reasons, "kept_urls": kept_ids}


def _child_ours(wet_dir: str, out_dir: str) -> None:
    common.pin_one_core()
    result = run_ours(Path(wet_dir), Path(out_dir))
    Path(out_dir, "ours_kept_urls.json").write_text(json.dumps(result.pop("kept_urls")))
    common.emit(result)


def datatrove_available() -> bool:
    return common.DATATROVE_PY.exists()


def bench(n_docs: int, runs: int) -> dict:
    info = common.build_wet(WET_DIR / "bench-00000.warc.wet.gz", n_docs)
    mb = info["raw_bytes"] / 1e6
    ours_runs, dt_runs, ratios, cpu_ratios = [], [], [], []
    overlap = None
    for i in range(runs):
        with tempfile.TemporaryDirectory(prefix="cc-chain-") as tmp:
            ours = common.run_json([str(common.VENV_PY), "-m", "benchmarks.bench_cc_chain", "--child-ours", str(WET_DIR), f"{tmp}/ours"])
            ours_runs.append(ours)
            if datatrove_available():
                dt = common.run_json([str(common.DATATROVE_PY), str(common.REPO / "benchmarks" / "datatrove_chain.py"),
                                      str(WET_DIR), f"{tmp}/dt", "--lid-model", str(common.LID_MODEL), "--pin"])
                dt_runs.append(dt)
                ratios.append(dt["wall_s"] / ours["wall_s"])
                cpu_ratios.append(dt["cpu_s"] / ours["cpu_s"])
                if overlap is None:
                    a = set(json.loads(Path(tmp, "ours", "ours_kept_urls.json").read_text()))
                    b = _dt_urls(Path(tmp, "dt"))
                    overlap = {"ours_only": len(a - b), "datatrove_only": len(b - a), "both": len(a & b)}
        print(f"[cc_chain] run {i + 1}/{runs}: ours {ours['wall_s']:.1f}s"
              + (f", datatrove {dt_runs[-1]['wall_s']:.1f}s" if dt_runs else ""), file=sys.stderr)

    def summary(rs: list[dict]) -> dict:
        if not rs:
            return {}
        wall = common.median([r["wall_s"] for r in rs])
        cpu = common.median([r["cpu_s"] for r in rs])
        steps = {k: common.median([r["steps_s"].get(k, 0.0) for r in rs]) for k in rs[0]["steps_s"]}
        return {"runs_wall_s": [round(r["wall_s"], 3) for r in rs], "wall_s": wall, "cpu_s": cpu,
                "docs_in": rs[0]["docs_in"], "docs_out": rs[0]["docs_out"],
                "docs_per_s_core": n_docs / wall, "mb_per_s_core": mb / wall,
                "peak_rss_mb": max(r["peak_rss_mb"] for r in rs), "steps_s": steps,
                "reasons": rs[0].get("reasons"),
                "datatrove_step_time_s": rs[-1].get("datatrove_step_time_s")}

    return {"input": {"docs": n_docs, "raw_mb": mb, "gz_mb": info["gz_bytes"] / 1e6, "path": str(WET_DIR)},
            "ours": summary(ours_runs), "datatrove": summary(dt_runs),
            "ratio_runs": ratios, "speedup_median": common.median(ratios) if ratios else None,
            "cpu_ratio_runs": cpu_ratios, "speedup_cpu_median": common.median(cpu_ratios) if cpu_ratios else None,
            "kept_overlap": overlap, "datatrove_installed": datatrove_available()}


def _dt_urls(dt_dir: Path) -> set[str]:
    import pyarrow.parquet as pq

    urls = set()
    for f in (dt_dir / "datatrove_out").rglob("*.parquet"):
        t = pq.read_table(f)
        meta = t.column("metadata").to_pylist() if "metadata" in t.column_names else []
        for m in meta:
            u = (m or {}).get("url")
            if u:
                urls.add(u)
    return urls


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json")
    ap.add_argument("--child-ours", nargs=2, metavar=("WET_DIR", "OUT_DIR"))
    args = ap.parse_args()
    if args.child_ours:
        _child_ours(*args.child_ours)
        return
    common.report(bench(args.docs, args.runs), args.json)


if __name__ == "__main__":
    main()
