"""Scaling: the full ``build_corpus`` job (every asset, model training included: KenLM, fastText
wiki-ref classifier, tokenizer) on 1x and 10x the input. Goals: time ratio <= 11x, peak RSS ratio <= 1.2x,
the peak of every step included.

The raw dir at scale N holds every source of ../shared/samples N times (copy 0 as stored, copies 1..N-1
perturbed: numbers changed, a few words swapped per line), so every source has N times the documents and
each copy survives exact dedup at ingest. Copies are near duplicates, found by near dedup late in the
graph, so (as in a real crawl) they flow through every stage before it at N times the volume:

- c4: each JSON line's text perturbed, N files; books: each book perturbed, N folders;
- stackexchange: Posts.xml of each site, the Body/Title attributes' numbers and words perturbed, as N sites;
- wikipedia: each XML dump rewritten page by page through lxml's incremental writer into a new bz2 dump
  under ``copyNN/`` (same file name: the language comes from it), every page with a new page and revision
  id, a new title and its prose lines (no template, table, heading, list or tag) perturbed;
- arxiv: each paper folder as N papers ``<paper>-copyNN/``, the prose lines (no backslash, ``%``, braces,
  ``$``, ``&``) of its TeX files perturbed, the other files copied;
- commoncrawl: N WET files of 400 documents each from the samples' texts (benchmarks.common.write_wet).
  N files, not one N times larger: a crawl grows by files of a fixed size (Common Crawl's ~150 MB WETs),
  and memory per file (a part) is bounded by the file, not by the corpus;
- langid: linked unchanged (the language-ID model's training sentences, not a corpus source).

Each scale runs in a subprocess (``benchmarks.profile_scaling_memory --child``: the job in process, RSS
sampled per step, children included); reported: wall and CPU time, peak RSS (getrusage: the process or
any model trainer it waited for), each step's peak RSS at 1x and Nx with their ratio, and documents per
source and stage (which shows the input really is N times larger where it should be).

``--executor ray``: the same job with every stage's part and side tasks on a loopback Ray cluster of
``--workers`` 1-CPU nodes (inside ``unshare -n``, every node on 127.0.0.1; ``profile_scaling_memory``): the
peak RSS is then the Dagster driver's own (and of the model trainers it runs), reported next to the Ray
workers' peak (summed over the worker processes, sampled) per step and for the run. ``--reuse-raw`` keeps the
raw dirs of an earlier run under ``--work``.

    .venv/bin/python -m benchmarks.bench_scaling [--scale 10] [--executor ray [--workers 2]] [--reuse-raw] [--json OUT]
"""
from __future__ import annotations

import argparse
import bz2
import gzip
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from lxml import etree

from benchmarks import common

_ATTR = re.compile(r'(Body|Title)="([^"]*)"')
_WIKI_MARKUP = re.compile(r"^\s*[{|}!=*#:;<]|\{\{|\}\}|<")  # templates, tables, headings, lists, tags
_TEX_MARKUP = re.compile(r"[\\%{}$&]")
CC_DOCS_PER_FILE = 400
_WIKI_ID_STEP = 10 ** 8  # copy c of page id i gets id i + c * step


def _perturb_prose(text: str, rng: np.random.Generator, markup: re.Pattern) -> str:
    """A near copy that still parses as the original: only the lines without markup are perturbed;
    when that changes nothing (all markup), the whole text is."""
    out = "\n".join(line if not line.strip() or markup.search(line) else common.perturb(line, rng)
                     for line in text.split("\n"))
    return out if out != text else common.perturb(text, rng)


def _copy_wiki_dump(src: Path, out: Path, copy: int, rng: np.random.Generator) -> None:
    """``src`` (a pages-articles dump) rewritten as copy ``copy``: new ids and titles, perturbed prose."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with bz2.open(src, "rb") as fin, bz2.open(out, "wb") as fout, etree.xmlfile(fout, encoding="utf-8") as xf:
        xf.write_declaration()
        events = etree.iterparse(fin, events=("start", "end"), resolve_entities=False, load_dtd=False, no_network=True)
        _, root = next(events)
        xml_ns = "{http://www.w3.org/XML/1998/namespace}"  # xml:lang: lxml's writer cannot emit the xml prefix
        with xf.element(root.tag, {k: v for k, v in root.attrib.items() if not k.startswith(xml_ns)}, nsmap=root.nsmap):
            for event, element in events:
                if event != "end" or element.getparent() is not root:
                    continue
                if etree.QName(element).localname == "page":
                    for node in [element.find("{*}id"), *element.iterfind("{*}revision/{*}id")]:
                        if node is not None and (node.text or "").strip().isdigit():
                            node.text = str(int(node.text) + copy * _WIKI_ID_STEP)
                    title = element.find("{*}title")
                    if title is not None:
                        title.text = f"{title.text} (copy {copy})"
                    for text in element.iterfind("{*}revision/{*}text"):
                        if text.text:
                            text.text = _perturb_prose(text.text, rng, _WIKI_MARKUP)
                xf.write(element)
                element.clear()
                while element.getprevious() is not None:
                    del root[0]


def _copy_paper(src: Path, out: Path, copy: int, rng: np.random.Generator) -> None:
    from corpus.sources.arxiv_latex import TEX_SUFFIXES

    for f in sorted(p for p in src.rglob("*") if p.is_file()):
        target = out / f.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        if copy and f.name.lower().endswith(TEX_SUFFIXES):
            target.write_text(_perturb_prose(f.read_text(encoding="utf-8"), rng, _TEX_MARKUP), encoding="utf-8")
        else:
            shutil.copyfile(f, target)


def _replicate(raw: Path, scale: int, seed: int = 0) -> None:
    from corpus.sources import wikipedia

    rng = np.random.default_rng(seed)
    s = common.SAMPLES
    (raw / "langid").symlink_to(s / "langid")
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
    for dump in wikipedia.discover_inputs(s / "wikipedia"):
        for c in range(scale):
            out = raw / "wikipedia" / f"copy{c:02d}" / dump.relative_to(s / "wikipedia")
            if c == 0:
                out.parent.mkdir(parents=True, exist_ok=True)
                out.symlink_to(dump)
            else:
                _copy_wiki_dump(dump, out, c, rng)
    for paper in sorted(p for p in (s / "arxiv").iterdir() if p.is_dir()):
        for c in range(scale):
            _copy_paper(paper, raw / "arxiv" / f"{paper.name}-copy{c:02d}", c, rng)
    cc_docs = common.derived_documents(CC_DOCS_PER_FILE * scale, seed)
    for c in range(scale):
        common.write_wet(raw / "commoncrawl" / "CC-MAIN-2024-22-bench" / f"bench-{c:05d}.warc.wet.gz",
                         cc_docs[c * CC_DOCS_PER_FILE:(c + 1) * CC_DOCS_PER_FILE], seed + c)


def build_raw(root: Path, scale: int) -> Path:
    raw = root / f"raw-{scale}x"
    if raw.exists():
        shutil.rmtree(raw)
    raw.mkdir(parents=True)
    _replicate(raw, scale)
    return raw


def bench(scale: int, work: Path, interval: float = 0.05, workers: int = 0, reuse_raw: bool = False) -> dict:
    """The job at 1x and ``scale``x (``workers`` > 0: on a loopback Ray cluster of that many worker nodes)."""
    from benchmarks.profile_scaling_memory import profile_command

    out = {"executor": "ray" if workers else "in-process", "workers": workers}
    for s in (1, scale):
        raw = work / f"raw-{s}x"
        if not (reuse_raw and raw.exists()):
            raw = build_raw(work, s)
        data = work / f"data-{s}x"
        shutil.rmtree(data, ignore_errors=True)
        r = common.run_json(profile_command(raw, data, interval, workers),
                            env={"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"), "RAY_ADDRESS": ""})
        if not r["success"]:
            raise RuntimeError(f"build_corpus failed at {s}x: {[x['step'] for x in r['steps'] if x['status'] != 'STEP_SUCCESS']}")
        r.pop("timeline")
        r["raw_mb"] = sum(p.stat().st_size for p in raw.rglob("*") if p.is_file()) / 1e6  # langid (linked) not counted
        out[f"{s}x"] = r
        print(f"[scaling] {s}x ({out['executor']}): {r['wall_s']:.0f}s, {'driver ' if workers else ''}peak RSS "
              f"{r['peak_rss_mb']:.0f} MB, Ray workers {r['workers_peak_mb']:.0f} MB, load average {r['load_average']}",
              file=sys.stderr)
    a, b = out["1x"], out[f"{scale}x"]
    out["time_ratio"] = b["wall_s"] / a["wall_s"]
    out["cpu_ratio"] = b["cpu_s"] / a["cpu_s"]
    out["rss_ratio"] = b["peak_rss_mb"] / a["peak_rss_mb"]
    out["scale"] = scale
    out["steps"] = step_ratios(a["steps"], b["steps"])
    return out


def step_ratios(small: list[dict], large: list[dict]) -> list[dict]:
    """Per step: peak RSS of the job process and of its children (model trainers) at both scales."""
    at_large = {r["step"]: r for r in large}
    rows = []
    for r in small:
        o = at_large.get(r["step"])
        if o is None:
            continue
        peak = max(r["rss_peak_mb"] or 0, r["children_peak_mb"]), max(o["rss_peak_mb"] or 0, o["children_peak_mb"])
        rows.append({"step": r["step"], "peak_1x_mb": r["rss_peak_mb"], "peak_nx_mb": o["rss_peak_mb"],
                     "workers_1x_mb": r["workers_peak_mb"], "workers_nx_mb": o["workers_peak_mb"],
                     "children_1x_mb": r["children_peak_mb"], "children_nx_mb": o["children_peak_mb"],
                     "rise_1x_mb": r["rise_mb"], "rise_nx_mb": o["rise_mb"], "secs_1x": r["secs"], "secs_nx": o["secs"],
                     "ratio": peak[1] / peak[0] if peak[0] else None})
    return rows


def table(res: dict) -> str:
    n, a, b = res["scale"], res["1x"], res[f"{res['scale']}x"]
    lines = [f"executor {res['executor']} ({res['workers']} Ray worker node(s)): "
             f"{'driver ' if res['workers'] else ''}peak RSS 1x {a['peak_rss_mb']:.0f} MB, {n}x {b['peak_rss_mb']:.0f} MB: "
             f"ratio {res['rss_ratio']:.2f} (goal <= 1.2); time ratio {res['time_ratio']:.2f} (goal <= 11), "
             f"CPU ratio {res['cpu_ratio']:.2f}; Ray workers' peak (sum) 1x {a['workers_peak_mb']:.0f} MB, "
             f"{n}x {b['workers_peak_mb']:.0f} MB; load average at the end 1x {a['load_average']}, {n}x {b['load_average']}",
             f"{'step':48s} {'peak 1x':>7s} {f'{n}x':>7s} {'kids 1x':>7s} {f'{n}x':>7s} {'rise 1x':>7s} {f'{n}x':>7s} "
             f"{'wrkr 1x':>7s} {f'{n}x':>7s} {'secs 1x':>7s} {f'{n}x':>7s} {'ratio':>6s}"]
    for r in res["steps"]:
        lines.append(f"{r['step'][:48]:48s} {r['peak_1x_mb'] or 0:7.0f} {r['peak_nx_mb'] or 0:7.0f} {r['children_1x_mb']:7.0f} "
                     f"{r['children_nx_mb']:7.0f} {r['rise_1x_mb'] or 0:7.0f} {r['rise_nx_mb'] or 0:7.0f} "
                     f"{r['workers_1x_mb']:7.0f} {r['workers_nx_mb']:7.0f} "
                     f"{r['secs_1x']:7.1f} {r['secs_nx']:7.1f} {r['ratio'] or 0:6.2f}")
    lines.append("documents per stage and source (1x -> {n}x):".format(n=n))
    for stage, per_source in res["1x"]["documents"].items():
        large = res[f"{n}x"]["documents"].get(stage, {})
        lines.append(f"  {stage:12s} " + ", ".join(f"{src} {k} -> {large.get(src, 0)}" for src, k in per_source.items()))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--json")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "corpus-bench" / "scaling"))
    ap.add_argument("--interval", type=float, default=0.05, help="RSS sampling period (seconds)")
    ap.add_argument("--executor", choices=("in-process", "ray"), default="in-process")
    ap.add_argument("--workers", type=int, default=2, help="Ray worker nodes (1 CPU each) under --executor ray")
    ap.add_argument("--reuse-raw", action="store_true", help="keep the raw dirs of an earlier run under --work")
    args = ap.parse_args()
    res = bench(args.scale, Path(args.work), args.interval, args.workers if args.executor == "ray" else 0, args.reuse_raw)
    common.report(res, args.json)
    print(table(res), file=sys.stderr)


if __name__ == "__main__":
    main()
