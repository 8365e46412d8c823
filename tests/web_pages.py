"""Real text for the quality filters' tests: English web pages, boilerplate built from real page fragments,
and held-out Wikipedia paragraphs, all from ../shared/samples read with the project's own readers.

- ``real_english_pages``: the 30 real C4 records plus the English pages of the Common Crawl sample
  (``corpus.sources.commoncrawl.read_documents``, kept when lid.176 says ``en`` with at least
  ``recipe.LANGID_MIN_SCORE``). Pages from wikipedia.org hosts are left out: they are Wikipedia, the very
  text the perplexity and wiki-ref models are trained on. Exact duplicates (the same page captured in several
  files) are kept once, as the pipeline's exact dedup (``corpus.text.normalize_for_hash``) keeps them: the
  first in (source, id) order.
- ``english_pages(n)``: ``n`` pages, the distinct real pages first (seeded order), then *composite* pages,
  each made of runs of consecutive lines cut from three different real pages (seeded): every line is real,
  their juxtaposition is not. ``split`` restricts both to one hash half of the real pages ("reference" or
  "evaluation"), so a model calibrated on one half is evaluated on pages it never saw.
- ``boilerplate_pages``: pages of one kind of fragment each, >= 300 characters: navigation (short lines a
  full-page extraction has and the main-content extraction drops), cookie notices (short lines that
  name cookies) and keyword lists (the navigation lines joined by ", " on one line, as tag clouds are).
- ``heldout_wikipedia_paragraphs``: the raw paragraphs of the Wikipedia sample whose line index
  ``quality_models.kenlm_model.is_heldout`` holds out of KenLM training.
- ``as_wet_file``: pages written as a real WET file (warcio), to go through ingest.
Everything is deterministic and cached per process.
"""
from __future__ import annotations

import functools
import io
import random
import re
from pathlib import Path
from typing import Sequence

import xxhash

from corpus import recipe
from corpus.filters.perplexity import normalize_line
from corpus.inputs import part_name
from corpus.schema import Drop
from corpus.sources import c4, commoncrawl, wikipedia
from corpus.text import normalize_for_hash

MIN_PAGE_CHARS = recipe.CCNET_MIN_DOC_CHARS
NAV_MAX_WORDS = 5  # a navigation item / link text: a short line
COOKIE_MAX_WORDS = 12  # a cookie link, cookie-table row or notice; longer lines are cookie-policy prose
COOKIE = re.compile(r"\bcookies?\b", re.IGNORECASE)
SPLITS = ("reference", "evaluation")


def split_of(text: str) -> str:
    """The hash half a real page belongs to, by its normalised text: stable across runs and machines, and
    across changes of part names or document ids."""
    return SPLITS[xxhash.xxh3_64_intdigest(normalize_for_hash(text).encode()) % 2]


def _samples(samples_dir: Path | str) -> Path:
    return Path(samples_dir).resolve()


def _commoncrawl_files(root: Path) -> list[Path]:
    return [f for f in commoncrawl.discover_inputs(root) if "bad_inputs" not in f.relative_to(root).parts]


def _english(texts: Sequence[str]) -> list[bool]:
    from quality_models.language_identifier import LanguageIdentifier

    labels, scores = LanguageIdentifier().predict(list(texts))
    return [label == "en" and score >= recipe.LANGID_MIN_SCORE for label, score in zip(labels, scores)]


def _is_wikipedia(url: str | None) -> bool:
    host = (url or "").split("/")[2] if (url or "").count("/") >= 2 else ""
    return host == "wikipedia.org" or host.endswith(".wikipedia.org")


@functools.lru_cache(maxsize=None)
def c4_pages(samples_dir: Path | str) -> tuple[dict, ...]:
    root = _samples(samples_dir) / "c4"
    return tuple(d for f in c4.discover_inputs(root) for d in c4.read_documents(f, part_name(root, f))
                 if not isinstance(d, Drop))


@functools.lru_cache(maxsize=None)
def commoncrawl_english_pages(samples_dir: Path | str) -> tuple[dict, ...]:
    root = _samples(samples_dir) / "commoncrawl"
    docs = [d for f in _commoncrawl_files(root) for d in commoncrawl.read_documents(f, part_name(root, f))
            if not isinstance(d, Drop) and not _is_wikipedia(d["url"])]
    return tuple(d for d, en in zip(docs, _english([d["text"] for d in docs])) if en)


@functools.lru_cache(maxsize=None)
def _distinct_english_pages(samples_dir: Path | str) -> tuple[dict, ...]:
    """C4 and English Common Crawl pages, one per normalised text (the first in (source, id) order), C4 first."""
    pages = [*c4_pages(samples_dir), *commoncrawl_english_pages(samples_dir)]
    first: dict[str, str] = {}
    for p in sorted(pages, key=lambda p: (p["source"], p["id"])):
        first.setdefault(normalize_for_hash(p["text"]), p["id"])
    kept = set(first.values())
    return tuple(p for p in pages if p["id"] in kept)


def real_english_pages(samples_dir: Path | str, split: str | None = None) -> list[dict]:
    """The distinct real English pages (documents as the readers give them), C4 first."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} or None, not {split!r}")
    return [p for p in _distinct_english_pages(samples_dir) if split is None or split_of(p["text"]) == split]


def _runs(text: str, rng: random.Random) -> str:
    """A run of 3-12 consecutive non-empty lines of a page, from a seeded start."""
    lines = [line for line in text.split("\n") if line.strip()]
    size = min(len(lines), rng.randint(3, 12))
    start = rng.randrange(len(lines) - size + 1)
    return "\n".join(lines[start:start + size])


@functools.lru_cache(maxsize=None)
def _english_pages(samples_dir: str, n: int, split: str | None, seed: int) -> tuple[str, ...]:
    real = [p["text"] for p in real_english_pages(samples_dir, split)]
    rng = random.Random(seed)
    order = rng.sample(real, len(real))
    out = dict.fromkeys(order[:n])
    while len(out) < n:
        text = "\n".join(_runs(page, rng) for page in rng.sample(real, 3))
        if len(text) >= MIN_PAGE_CHARS:
            out[text] = None
    return tuple(out)


def english_pages(samples_dir: Path | str, n: int, split: str | None = None, seed: int = 0) -> list[str]:
    """``n`` English page texts: real pages first, then composites of real pages' lines (module docstring)."""
    return list(_english_pages(str(_samples(samples_dir)), n, split, seed))


@functools.lru_cache(maxsize=None)
def _boilerplate_lines(samples_dir: Path | str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(navigation lines, cookie lines) of the real English Common Crawl pages' full-page extraction:
    navigation = short lines the main-content extraction of the same page drops; cookie lines = lines of at
    most COOKIE_MAX_WORDS words naming cookies (cookie links, cookie-table rows, notices), wherever they are:
    few archived pages kept their banner, and the longer cookie lines are a cookie-policy page's prose."""
    root = _samples(samples_dir) / "commoncrawl"
    english = {d["id"] for d in commoncrawl_english_pages(samples_dir)}
    nav: dict[str, None] = {}
    cookie: dict[str, None] = {}
    for f in _commoncrawl_files(root):
        main = {d["id"]: set(d["text"].split("\n")) for d in commoncrawl.read_documents(f, part_name(root, f), min_doc_chars=0)
                if not isinstance(d, Drop)}
        for d in commoncrawl.read_documents(f, part_name(root, f), min_doc_chars=0, main_content=False):
            if isinstance(d, Drop) or d["id"] not in english:
                continue
            for line in (x.strip() for x in d["text"].split("\n")):
                if not normalize_line(line):
                    continue
                if COOKIE.search(line):
                    if len(line.split()) <= COOKIE_MAX_WORDS:
                        cookie[line] = None
                elif (line not in main.get(d["id"], ()) and len(line.split()) <= NAV_MAX_WORDS
                      and any(c.isalpha() for c in line)):
                    nav[line] = None
    return tuple(nav), tuple(cookie)


def _fill(lines: Sequence[str], rng: random.Random, sep: str) -> str:
    """Seeded lines joined by ``sep`` until the page reaches MIN_PAGE_CHARS."""
    picked: list[str] = []
    for line in rng.sample(list(lines), len(lines)):
        picked.append(line)
        if len(sep.join(picked)) >= MIN_PAGE_CHARS:
            return sep.join(picked)
    raise ValueError(f"{len(lines)} lines make fewer than {MIN_PAGE_CHARS} characters")


@functools.lru_cache(maxsize=None)
def _boilerplate(samples_dir: str, per_kind: int, seed: int) -> tuple[tuple[str, str], ...]:
    nav, cookie = _boilerplate_lines(samples_dir)
    rng = random.Random(seed)
    kinds = (("navigation", nav, "\n"), ("cookie_notice", cookie, "\n"), ("keyword_list", nav, ", "))
    return tuple((kind, _fill(lines, rng, sep)) for kind, lines, sep in kinds for _ in range(per_kind))


def boilerplate_pages(samples_dir: Path | str, per_kind: int = 10, seed: int = 0) -> list[tuple[str, str]]:
    """(kind, text) pages built from real page fragments: ``per_kind`` each of navigation, cookie_notice
    and keyword_list."""
    return list(_boilerplate(str(_samples(samples_dir)), per_kind, seed))


@functools.lru_cache(maxsize=None)
def wikipedia_documents(samples_dir: Path | str) -> tuple[dict, ...]:
    root = _samples(samples_dir) / "wikipedia"
    return tuple(d for f in wikipedia.discover_inputs(root) for d in wikipedia.read_documents(f, part_name(root, f))
                 if not isinstance(d, Drop))


def heldout_wikipedia_paragraphs(samples_dir: Path | str, lang: str = "en", min_words: int = 10) -> list[str]:
    """Raw Wikipedia paragraphs that KenLM training holds out (same line index as ``normalized_lines``)."""
    from quality_models.kenlm_model import is_heldout

    out = []
    for doc in wikipedia_documents(samples_dir):
        if doc["lang"] != lang:
            continue
        lines = [line for line in doc["text"].split("\n") if normalize_line(line)]
        out.extend(line for i, line in enumerate(lines)
                   if is_heldout(f"{doc['id']}:{i}", recipe.KENLM_HOLDOUT_FRACTION) and len(line.split()) >= min_words)
    return out


def as_wet_file(texts: Sequence[str], path: Path, url_prefix: str = "http://example.test/page/") -> Path:
    """Write texts as WET conversion records (warcio, gzipped per record), one per text."""
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    for i, text in enumerate(texts):
        body = text.encode("utf-8")
        record = writer.create_warc_record(f"{url_prefix}{i}", "conversion", payload=io.BytesIO(body),
                                           warc_content_type="text/plain", length=len(body))
        writer.write_record(record)
    path.write_bytes(buf.getvalue())
    return path
