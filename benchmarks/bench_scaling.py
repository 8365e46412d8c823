"""Scaling: the full ``build_corpus`` job (every asset, model training included: KenLM, fastText
wiki-ref classifier, tokenizer) on 1x and 10x the input. Goals: time ratio <= 11x, peak RSS ratio <= 1.2x.

The 1x raw dir is ../shared/samples (symlinked). The 10x raw dir holds each text-source file of the
samples (c4, commoncrawl WET/WARC payload text via a rebuilt WET, stackexchange, books, wikipedia and
arxiv kept as links) replicated 10 times with perturbation (every number changed, a few words swapped
per line) so exact/near dedup does not simply remove the copies:

- c4: each JSON line's text perturbed, 10 files; books: each book perturbed, 10 files;
- stackexchange: Posts.xml of each site, the Body/Title attributes' numbers and words perturbed, as 10 sites;
- commoncrawl: a WET file of 10x the documents the samples' CC pages give (benchmarks.common.build_wet);
- wikipedia, arxiv, langid: linked unchanged (their parsers need exact formats; they are small).

The job runs in a subprocess (``defs.resolve_job_def('build_corpus').execute_in_process()``) with
CORPUS_DATA_ROOT / CORPUS_RAW_DIR set; its wall time and peak RSS (getrusage of the child) are reported.

    .venv/bin/python -m benchmarks.bench_scaling [--scale 10] [--json OUT]
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import common

_ATTR = re.compile(r'(Body|Title)="([^"]*)"')


def _replicate(raw: Path, scale: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    s = common.SAMPLES
    for name in ("wikipedia", "arxiv", "langid"):
        (raw / name).symlink_to(s / name)
    for f in sorted((s / "c4").glob("*.json.gz")):
        lines = gzip.open(f, "rt", encoding="utf-8").read().splitlines()
        for c in range(scale):
            out = raw / "c4" / f"copy{c:02d}-{f.name}"
            out.parent.mkdir(parents=True, exist_ok=True)
            rows = []
            for line in lines:
                if not line.strip():
                    continue
                d = json.loads(line)
                if c:
                    d["text"] = common.perturb(d["text"], rng)
                    d["url"] = f"{d.get('url', '')}?copy={c}"
                rows.append(json.dumps(d, ensure_ascii=False))
            with gzip.open(out, "wt", encoding="utf-8") as fh:
                fh.write("\n".join(rows) + "\n")
    for f in sorted((s / "books").rglob("*.txt")):
        text = f.read_text(encoding="utf-8")
        for c in range(scale):
            out = raw / "books" / f"{f.parent.name}-copy{c:02d}" / f.name
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text if c == 0 else common.perturb(text, rng), encoding="utf-8")
    for site in sorted(p for p in (s / "stackexchange").iterdir() if p.is_dir()):
        posts = (site / "Posts.xml").read_text(encoding="utf-8")
        for c in range(scale):
            out = raw / "stackexchange" / (site.name if c == 0 else f"copy{c:02d}.{site.name}") / "Posts.xml"
            out.parent.mkdir(parents=True, exist_ok=True)
            text = posts if c == 0 else _ATTR.sub(lambda m: f'{m.group(1)}="{common.perturb(m.group(2), rng, 0.05)}"', posts)
            out.write_text(text, encoding="utf-8")
    cc_docs = [d for d in common.derived_documents(400 * scale, seed)]
    common.write_wet(raw / "commoncrawl" / "CC-MAIN-2024-22-bench" / "bench.warc.wet.gz", cc_docs, seed)


def build_raw(root: Path, scale: int) -> Path:
    raw = root / f"raw-{scale}x"
    if raw.exists():
        shutil.rmtree(raw)
    raw.mkdir(parents=True)
    _replicate(raw, scale)
    return raw


def _child(raw: str, data_root: str) -> None:
    os.environ["CORPUS_RAW_DIR"] = raw
    os.environ["CORPUS_DATA_ROOT"] = data_root
    os.environ["DAGSTER_HOME"] = str(Path(data_root) / "dagster_home")
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    from pipelines.definitions import defs

    c0, t0 = common.cpu_seconds(), time.perf_counter()
    result = defs.resolve_job_def("build_corpus").execute_in_process()
    os_t = os.times()
    common.emit({"success": result.success, "wall_s": time.perf_counter() - t0,
                 "cpu_s": os_t.user + os_t.system + os_t.children_user + os_t.children_system - c0})


def bench(scale: int, work: Path) -> dict:
    out = {}
    for s in (1, scale):
        raw = build_raw(work, s)
        mb = sum(p.stat().st_size for p in raw.rglob("*") if p.is_file()) / 1e6
        data = work / f"data-{s}x"
        shutil.rmtree(data, ignore_errors=True)
        r = common.run_json([str(common.VENV_PY), "-m", "benchmarks.bench_scaling", "--child", str(raw), str(data)],
                            env={"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")})
        r["raw_mb_not_linked"] = mb
        out[f"{s}x"] = r
        print(f"[scaling] {s}x: {r['wall_s']:.0f}s, peak RSS {r['peak_rss_mb']:.0f} MB", file=sys.stderr)
    a, b = out["1x"], out[f"{scale}x"]
    out["time_ratio"] = b["wall_s"] / a["wall_s"]
    out["cpu_ratio"] = b["cpu_s"] / a["cpu_s"]
    out["rss_ratio"] = b["peak_rss_mb"] / a["peak_rss_mb"]
    out["scale"] = scale
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--json")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "corpus-bench" / "scaling"))
    ap.add_argument("--child", nargs=2)
    args = ap.parse_args()
    if args.child:
        _child(*args.child)
        return
    common.report(bench(args.scale, Path(args.work)), args.json)


if __name__ == "__main__":
    main()
