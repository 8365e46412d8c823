"""Shared helpers of the benchmarks: real text derived from ../shared/samples (never copied into the
repository), a real-format WET writer, perturbation, timing and peak-memory helpers.

Every derived input is seeded: the same samples and the same seed give the same bytes.

The samples hold one real WET record and a WARC of 16 HTML pages, so the CommonCrawl-chain input is
*built*: real text from every source (the extracted CC pages, C4 pages, Wikipedia articles, book
passages, StackExchange posts and the lingua sentences of 41 languages grouped into paragraphs), each
document repeated with perturbation (numbers changed, a few words swapped) and with a per-"site" pool
of boilerplate lines, so line dedup, language ID and the Gopher rules all have real work to do.
"""
from __future__ import annotations

import gzip
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLES = Path(os.environ.get("CORPUS_SAMPLES_DIR", REPO.parent / "shared" / "samples"))
RESULTS = REPO / "benchmarks" / "results"
VENV_PY = REPO / ".venv" / "bin" / "python"
DATATROVE_PY = REPO / "benchmarks" / ".venv-datatrove" / "bin" / "python"
LID_MODEL = REPO / ".venv" / "share" / "corpus-models" / "lid.176.ftz"
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                     "RAYON_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "POLARS_MAX_THREADS": "1",
                     "NUMEXPR_NUM_THREADS": "1"}
_NUMBER = re.compile(r"\d+")


# ------------------------------------------------------------------------------------ real texts

def _read_all(module, paths: Iterable[Path], root: Path) -> list[str]:
    from corpus.schema import Drop

    out = []
    for path in paths:
        for record in module.read_documents(path, str(path.relative_to(root))):
            if not isinstance(record, Drop):
                out.append(record["text"])
    return out


def _chunks(text: str, rng: np.random.Generator, lo: int = 1500, hi: int = 6000) -> list[str]:
    """A long text (a book) cut at paragraph boundaries into document-sized pieces."""
    paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    out, cur, size, target = [], [], 0, int(rng.integers(lo, hi))
    for p in paras:
        cur.append(p.replace("\r", ""))
        size += len(p)
        if size >= target:
            out.append("\n".join(cur))
            cur, size, target = [], 0, int(rng.integers(lo, hi))
    if cur:
        out.append("\n".join(cur))
    return out


@lru_cache(maxsize=1)
def sample_texts(seed: int = 0) -> tuple[tuple[str, str], ...]:
    """(kind, text) of real documents from every sample source, in a fixed order."""
    from corpus.sources import books, c4, commoncrawl, stackexchange, wikipedia

    rng = np.random.default_rng(seed)
    out: list[tuple[str, str]] = []
    cc = SAMPLES / "commoncrawl"
    for t in _read_all(commoncrawl, [cc / "cc-main-2020-34_resiliparse" / "warcfile.warc.gz",
                                     cc / "cc-main-2024-22_whirlwind" / "whirlwind.warc.wet.gz",
                                     cc / "cc-main-2024-22_whirlwind" / "whirlwind.warc.gz"], cc):
        out.append(("commoncrawl", t))
    out += [("c4", t) for t in _read_all(c4, c4.discover_inputs(SAMPLES / "c4"), SAMPLES / "c4")]
    wiki = SAMPLES / "wikipedia"
    out += [("wikipedia", t) for t in _read_all(wikipedia, wikipedia.discover_inputs(wiki), wiki)]
    se = SAMPLES / "stackexchange"
    out += [("stackexchange", t) for t in _read_all(stackexchange, stackexchange.discover_inputs(se), se)]
    seen_books = set()
    for path in sorted((SAMPLES / "books").rglob("*.txt")):
        if path.name in seen_books:  # the same Gutenberg book under two folders: read once
            continue
        seen_books.add(path.name)
        for text in _read_all(books, [path], SAMPLES / "books"):
            out += [("books", c) for c in _chunks(text, rng)]
    for path in sorted((SAMPLES / "langid" / "lingua-sentences").glob("*.txt")):
        sentences = [s.strip() for s in path.read_text(encoding="utf-8").splitlines() if s.strip()]
        i = 0
        while i < len(sentences) and i < 400:  # ~30 documents per language
            n = int(rng.integers(6, 18))
            lines, j = [], i
            while j < i + n:  # 2-4 sentences per paragraph line
                k = int(rng.integers(2, 5))
                lines.append(" ".join(sentences[j:j + k]))
                j += k
            out.append((f"lingua-{path.stem}", "\n".join(lines)))
            i = j
    return tuple((k, t) for k, t in out if len(t) >= 200)


# ------------------------------------------------------------------------------------ perturbation

def perturb(text: str, rng: np.random.Generator, word_rate: float = 0.02) -> str:
    """A near copy: every number changed, ~``word_rate`` of the words swapped for neighbours' words,
    line structure kept (so about a third of its lines stay exact duplicates of the original)."""
    text = _NUMBER.sub(lambda m: str(int(rng.integers(0, 10 ** min(len(m.group()), 6)))), text)
    lines = text.split("\n")
    out = []
    for line in lines:
        if rng.random() < 0.35:  # an unchanged line: a real cross-document duplicate
            out.append(line)
            continue
        words = line.split(" ")
        if len(words) > 3:
            n = max(1, int(len(words) * word_rate))
            for _ in range(n):
                i, j = rng.integers(0, len(words), 2)
                words[i], words[j] = words[j], words[i]
        out.append(" ".join(words))
    return "\n".join(out)


def boilerplate_pool(rng: np.random.Generator, n_sites: int = 200) -> list[list[str]]:
    """Per-site navigation/footer lines (what CCNet's line dedup removes) built from real words."""
    words = "home about contact privacy policy terms login register search menu share subscribe newsletter " \
            "copyright all rights reserved cookies blog news archive tags categories next previous page".split()
    sites = []
    for s in range(n_sites):
        lines = []
        for _ in range(int(rng.integers(2, 6))):
            k = int(rng.integers(2, 7))
            lines.append(" | ".join(rng.choice(words, k)) + f" site{s}")
        sites.append(lines)
    return sites


@dataclass(frozen=True)
class WetDoc:
    uri: str
    date: str
    text: str


def derived_documents(n_docs: int, seed: int = 0) -> list[WetDoc]:
    """``n_docs`` web-like documents: sample texts cycled, each copy perturbed, with site boilerplate."""
    rng = np.random.default_rng(seed)
    texts = sample_texts()
    sites = boilerplate_pool(rng)
    order = rng.permutation(len(texts))
    docs = []
    for i in range(n_docs):
        kind, text = texts[int(order[i % len(order)])]
        if i >= len(texts):
            text = perturb(text, rng)
        site = int(rng.integers(len(sites)))
        head, foot = sites[site][:2], sites[site][2:]
        body = "\n".join([*head, text, *foot])
        day = 1 + i % 28
        docs.append(WetDoc(f"https://{kind}.site{site}.example.org/page/{i}", f"2024-05-{day:02d}T12:00:00Z", body))
    return docs


# ------------------------------------------------------------------------------------ WET writer

def _record(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    head = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + f"Content-Length: {len(payload)}\r\n\r\n"
    return head.encode("utf-8") + payload + b"\r\n\r\n"


def write_wet(path: Path, docs: Sequence[WetDoc], seed: int = 0) -> dict[str, Any]:
    """A real-format ``.warc.wet.gz``: a warcinfo record then one ``conversion`` record per document,
    each record its own gzip member (as Common Crawl writes them). Returns size figures."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw_bytes = 0
    filename = path.name
    info = (f"Software-Info: corpus-benchmarks\r\nisPartOf: CC-MAIN-2024-22\r\n"
            f"description: derived from ../shared/samples, seed {seed}\r\n").encode()
    with open(path, "wb") as fh:
        def member(data: bytes) -> None:
            nonlocal raw_bytes
            raw_bytes += len(data)
            fh.write(gzip.compress(data, compresslevel=6, mtime=0))
        member(_record([("WARC-Type", "warcinfo"), ("WARC-Date", "2024-05-01T00:00:00Z"), ("WARC-Filename", filename),
                        ("WARC-Record-ID", f"<urn:uuid:{uuid.UUID(int=int(rng.integers(1 << 62)))}>"),
                        ("Content-Type", "application/warc-fields")], info))
        for d in docs:
            payload = d.text.encode("utf-8")
            member(_record([("WARC-Type", "conversion"), ("WARC-Target-URI", d.uri), ("WARC-Date", d.date),
                            ("WARC-Record-ID", f"<urn:uuid:{uuid.UUID(int=int(rng.integers(1 << 62)) << 64 | int(rng.integers(1 << 62)))}>"),
                            ("WARC-Refers-To", f"<urn:uuid:{uuid.UUID(int=int(rng.integers(1 << 62)))}>"),
                            ("Content-Type", "text/plain")], payload))
    return {"docs": len(docs), "raw_bytes": raw_bytes, "gz_bytes": path.stat().st_size}


def build_wet(path: Path, n_docs: int, seed: int = 0) -> dict[str, Any]:
    """Build (or reuse, when its stamp matches) the benchmark WET file of ``n_docs`` documents."""
    stamp = path.with_suffix(".json")
    key = {"n_docs": n_docs, "seed": seed, "version": 1}
    if path.exists() and stamp.exists():
        info = json.loads(stamp.read_text())
        if info.get("key") == key:
            return info
    info = write_wet(path, derived_documents(n_docs, seed), seed)
    info["key"] = key
    stamp.write_text(json.dumps(info))
    return info


# ------------------------------------------------------------------------------------ measuring

def pin_one_core() -> None:
    """In a benchmark subprocess: one core, one thread per library."""
    os.environ.update(SINGLE_THREAD_ENV)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def self_peak_rss_mb() -> float:
    """Peak RSS of this process or of any child it waited for (Linux ru_maxrss is in KiB)."""
    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024.0


def run_json(cmd: Sequence[str], env: dict[str, str] | None = None, timeout: float | None = None) -> dict[str, Any]:
    """Run a benchmark subprocess that prints one JSON object on its last stdout line (``emit``: it
    reports its own peak RSS from getrusage); adds the wall seconds seen from outside."""
    full_env = {**os.environ, **SINGLE_THREAD_ENV, **(env or {})}
    full_env.setdefault("PYTHONPATH", str(REPO))
    t0 = time.perf_counter()
    proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env, cwd=REPO, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise RuntimeError(f"{cmd[:3]} timed out after {timeout}s; stderr tail: {err[-2000:]}")
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd[:4]))} failed ({proc.returncode}): {err[-3000:]}")
    lines = [l for l in out.strip().splitlines() if l.startswith("{")]
    if not lines:
        raise RuntimeError(f"no JSON from {cmd[:4]}: {out[-1000:]} {err[-2000:]}")
    result = json.loads(lines[-1])
    result.setdefault("wall_s", wall)
    return result


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def in_private_netns(cmd: Sequence[str]) -> list[str]:
    """``cmd`` in a new network namespace with only its loopback, brought up: where every Ray run of the
    benchmarks starts its cluster (each node bound to 127.0.0.1), so no Ray traffic can leave the machine."""
    return ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"', *cmd]


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, printed next to every timing of a shared machine."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def emit(result: dict[str, Any]) -> None:
    """The last stdout line of a benchmark subprocess: its result, with its own peak RSS."""
    result.setdefault("peak_rss_mb", self_peak_rss_mb())
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def report(result: dict[str, Any], json_path: str | None) -> None:
    """A benchmark's final result: pretty JSON on stdout, and in ``json_path`` when given."""
    text = json.dumps(result, indent=2)
    if json_path:
        Path(json_path).write_text(text)
    print(text)


def line_dedup_one_part(batches: Iterable, folder: Path, name: str = "part") -> tuple[Path, np.ndarray]:
    """Line-dedup pass 1 of one part that is its own group, counted in one bucket on one thread:
    (its hash file, the group's duplicate hashes), what ``LineDedupFilter`` takes."""
    import pyarrow.parquet as pq

    from corpus.filters import line_dedup

    hashes = line_dedup.hash_part(batches)
    hash_file, key_file = folder / f"hashes-{name}.parquet", folder / f"keys-{name}.parquet"
    pq.write_table(hashes, hash_file)
    pq.write_table(line_dedup.part_keys(hashes), key_file)
    return hash_file, line_dedup.count_group([key_file], 1, threads=1).duplicates
