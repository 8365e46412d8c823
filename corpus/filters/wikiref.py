"""LLaMA-1's Wikipedia-reference quality filter: a fastText classifier's P(wiki-ref) per document.

The text the classifier sees (at training and at filtering alike) is ``fasttext_text``: CCNet's
line normalisation (lowercase, accents stripped, digits -> 0, Unicode punctuation -> ASCII),
newlines to spaces, and punctuation split from words so "berlin." and "berlin" are one token
(fastText splits on whitespace only). A document is kept when P(wiki-ref) >= ``min_score``, the
threshold of the model's keep rule (0.25, RedPajama v1, for a model trained on real cited pages; a
threshold calibrated on held-out web documents for the curated fallback, see ``quality_models.wikiref``);
``wikiref_score`` holds the probability. The filter bins the scores (``SCORE_BINS``) of the kept documents
per language and of every scored one into the part's stats, which ``stage_report`` plots.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa

from corpus import plots
from corpus.filters.perplexity import CCNET_CHAR_MAP
from corpus.model_cache import fasttext_model
from corpus.filters.base import DocumentFilter, Judgement
from corpus.storage import PartStats

STAGE = "wikiref"
POSITIVE = "__label__wikiref"
NEGATIVE = "__label__random"
_PUNCT = re.compile(r"([^\w\s])")
_SPACES = re.compile(r"\s+")
# the fixed bins of the score histograms in the part stats, named as the stage's plot shows them
SCORE_BINS = np.linspace(0.0, 1.0, 41)
KEPT_PREFIX, ALL_SCORED = "kept ", "all scored (kept + dropped)"


class _NonAsciiMap(dict):
    """``fasttext_text``'s ``str.translate`` table of non-ASCII characters, filled the first time one is seen:
    CCNet's map (``perplexity.CCNET_CHAR_MAP``), then each non-ASCII punctuation character of its output padded with
    spaces and each whitespace one a space (its ASCII output goes through the ASCII pass after it)."""

    def __missing__(self, code: int) -> str | None:
        out = CCNET_CHAR_MAP[code]
        if out is not None:
            out = "".join(" " if _SPACES.fullmatch(c) else f" {c} " if not c.isascii() and _PUNCT.fullmatch(c) else c
                          for c in out)
        self[code] = out
        return out


_NON_ASCII_MAP = _NonAsciiMap()
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
# the ASCII pass on UTF-8 bytes: CCNet's map of ASCII (1:1 or deleted), "\n" a space, punctuation padded
_ASCII_OUT = {code: " " if code == 10 else CCNET_CHAR_MAP[code] for code in range(128)}
_ASCII_TABLE = bytes(ord(out) if out else code for code, out in _ASCII_OUT.items()) + bytes(range(128, 256))
_ASCII_DELETE = bytes(code for code, out in _ASCII_OUT.items() if out is None)
_ASCII_PUNCT = [chr(code).encode() for code in range(128) if _PUNCT.fullmatch(chr(code))]


def _translate_run(run: re.Match) -> str:
    return run.group().translate(_NON_ASCII_MAP)


def fasttext_text(text: str) -> str:
    """One line of space-separated tokens for fastText: CCNet's ``normalize_line`` of each line, the non-empty
    lines joined by spaces, punctuation (``[^\\w\\s]``) split from words, whitespace runs one space. Done on the
    whole text at once (lowercase and NFD; non-ASCII runs through ``_NON_ASCII_MAP``; the ASCII characters as
    bytes, by ``bytes.translate`` and one ``replace`` per punctuation character present): the same string as
    the line by line chain (tests/corpus/filters/test_wikiref.py checks it on every sample), 3x faster."""
    low = unicodedata.normalize("NFD", text.lower())
    if not low.isascii():
        low = _NON_ASCII_RUN.sub(_translate_run, low)
    out = low.encode().translate(_ASCII_TABLE, _ASCII_DELETE)
    for punct in _ASCII_PUNCT:
        if punct in out:
            out = out.replace(punct, b" " + punct + b" ")
    while b"  " in out:
        out = out.replace(b"  ", b" ")
    return out.strip(b" ").decode()


def drop_reason(min_score: float) -> str:
    return f"wikiref<{min_score:g}"


def applied_keep_rule(model_dir: Path, min_score: float | None = None) -> tuple[float, str]:
    """The threshold and the rule the filter applies: the model's own keep rule (its manifest's
    ``keep_rule``), or ``min_score`` when given (a run config's override)."""
    if min_score is not None:
        return min_score, f"P(wiki-ref) >= {min_score:g} (run config)"
    rule = json.loads((Path(model_dir) / "manifest.json").read_text())["keep_rule"]
    return rule["min_score"], rule["rule"]


class WikirefScorer:
    """A trained fastText model (loaded lazily, once per process); ``score`` gives P(``positive``) per text: P(wiki-ref) by
    default, the quality classifier's P(high quality) with its own label."""

    def __init__(self, model_path: Path, positive: str = POSITIVE):
        self.model_path = Path(model_path)
        self.positive = positive

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return self.score_prepared([fasttext_text(t) for t in texts])

    def score_prepared(self, texts: Sequence[str]) -> np.ndarray:
        """P(wiki-ref) of texts already in ``fasttext_text`` form (all predicted in one call)."""
        if not texts:
            return np.zeros(0)
        labels, probs = fasttext_model(str(self.model_path)).predict(list(texts), k=-1, threshold=0.0)
        out = np.zeros(len(texts))
        for i, (labs, ps) in enumerate(zip(labels, probs)):
            for lab, p in zip(labs, ps):
                if lab == self.positive:
                    out[i] = min(float(p), 1.0)
        return out


@dataclass
class WikirefFilter(DocumentFilter):
    """Fills ``wikiref_score`` with P(wiki-ref); drops documents under ``min_score`` (reason ``wikiref<0.25``)."""

    scorer: WikirefScorer
    min_score: float
    source: str
    stage: str = STAGE

    def judge(self, batch: pa.RecordBatch) -> Judgement:
        scores = self.scorer.score(batch.column("text").to_pylist())
        keep = scores >= self.min_score
        langs = np.asarray([str(lang) for lang in batch.column("lang").to_pylist()], dtype=object)
        histograms = {KEPT_PREFIX + lang: score_histogram(scores[keep & (langs == lang)]) for lang in set(langs[keep])}
        return Judgement(keep=keep, reasons=drop_reason(self.min_score),
                         details=[f"p={s:.3f}" for s in scores], columns={"wikiref_score": pa.array(scores, pa.float32())},
                         histograms={**histograms, ALL_SCORED: score_histogram(scores)})


def score_histogram(scores: np.ndarray) -> list[int]:
    return np.histogram(np.clip(scores, 0.0, 1.0), bins=SCORE_BINS)[0].tolist()


def stage_report(stats: PartStats, min_score: float) -> dict[str, Any]:
    """The wikiref stage's score histograms (kept documents per language, every scored one) with the
    threshold, from its parts' stats."""
    return dict(wikiref_score_histogram=plots.Markdown(plots.binned_histograms_markdown(
        stats.histograms, SCORE_BINS, {k: (min_score,) for k in stats.histograms}, "P(wiki-ref)")))
