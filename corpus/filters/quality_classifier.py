"""LLaMA-3's model-based quality filter, as DCLM built it: a fastText classifier's P(high quality) per page,
keeping the top fraction of the snapshot by that score.

DCLM-Baseline (Li et al. 2024) keeps the top 10% of its pool by the classifier's score, a rank cut-off, not
an absolute probability: the threshold is the score of the ``ceil(keep_fraction * n)``-th best of the
snapshot's documents (a hash-priority sample of at most ``max_docs`` of them, by id, so it is bounded and
the same whatever the part order), like the perplexity percentiles. Ties at the threshold are all kept.
The score goes into ``quality_classifier_score``; a dropped page's reason is ``quality_classifier<T``
(``T`` the threshold, 4 significant digits) with its score in the detail.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Iterable, Mapping

import numpy as np
import pyarrow as pa
import xxhash

from corpus.filters.base import DocumentFilter, Judgement
from corpus.filters.wikiref import WikirefScorer
from corpus.plots import histogram_plot
from corpus.recipe import QUALITY_CLASSIFIER_KEEP_FRACTION, QUALITY_CLASSIFIER_SAMPLE_DOCS
from corpus.sampling import PrioritySample
from corpus.storage import Location, iter_batches

STAGE = "quality_classifier"
COLUMN = "quality_classifier_score"
# DCLM's labels (dclm fastText training data: __label__hq / __label__cc)
POSITIVE = "__label__hq"
NEGATIVE = "__label__cc"


def drop_reason(threshold: float) -> str:
    return f"quality_classifier<{threshold:.4g}"


def keep_threshold(scores: np.ndarray, keep_fraction: float) -> float:
    """The lowest score kept when the top ``keep_fraction`` of ``scores`` is kept (at least one document)."""
    if not 0 < keep_fraction <= 1:
        raise ValueError(f"keep_fraction must be in (0, 1], got {keep_fraction}")
    if len(scores) == 0:
        raise ValueError("no scored documents to choose the quality classifier's cut-off on")
    k = max(1, math.ceil(keep_fraction * len(scores)))
    return float(np.sort(np.asarray(scores, np.float64))[::-1][k - 1])


def score_sample(scorer: WikirefScorer, parts: Iterable[Location], max_docs: int, seed: int = 0) -> dict[str, float]:
    """{id: score} of a hash-priority sample (by document id) of at most ``max_docs`` documents of ``parts``
    (every document, when there are no more): the cut-off is chosen on its values, and the filter reuses them."""
    sample = PrioritySample(max_docs)
    for batch in iter_batches(sorted(parts, key=str), columns=["id", "text"]):
        ids = batch.column("id").to_pylist()
        for doc_id, score in zip(ids, scorer.score(batch.column("text").to_pylist())):
            sample.add(xxhash.xxh3_64_intdigest(f"{seed}:{doc_id}".encode()), doc_id, float(score))
    return {doc_id: score for _, doc_id, score in sample.items()}


@dataclass(frozen=True)
class Cutoff:
    """A source's cut-off: the scores of its sample by id (``score_sample``; the filter reuses them) and the
    lowest score kept when the top ``keep_fraction`` is kept (None: the source has no documents)."""

    known: Mapping[str, float]
    keep_fraction: float

    @cached_property
    def scores(self) -> np.ndarray:
        return np.fromiter(self.known.values(), np.float64, len(self.known))

    @cached_property
    def threshold(self) -> float | None:
        return keep_threshold(self.scores, self.keep_fraction) if self.known else None

    def part_settings(self, model_version: str) -> dict:
        """What a filtered part's fingerprint holds."""
        return dict(model=model_version, min_score=self.threshold, keep_fraction=self.keep_fraction)

    def filter(self, source: str, scorer: WikirefScorer) -> QualityClassifierFilter:
        return QualityClassifierFilter(source, scorer, self.threshold, self.known)

    def report(self, source: str) -> dict[str, Any]:
        """The threshold, score quantiles and a histogram (PNG) of the sample, keyed by ``source``."""
        if not self.known:
            return {}
        scores, threshold = self.scores, self.threshold
        png = histogram_plot(scores, f"{source}: P(high quality) of {len(scores)} documents", "P(high quality)",
                             {f"keep top {self.keep_fraction:g}": threshold})
        return {f"min_score_{source}": threshold, f"score_histogram_{source}": png,
                f"score_quantiles_{source}": {f"p{q}": round(float(np.percentile(scores, q)), 4) for q in (10, 50, 90, 99)}}


def source_cutoff(scorer: WikirefScorer, parts: Iterable[Location], settings: QualityFilterSettings) -> Cutoff:
    """The cut-off of one source's snapshot (``parts``: its documents as the filter reads them)."""
    return Cutoff(score_sample(scorer, parts, settings.max_sample_docs, settings.seed), settings.keep_fraction)


@dataclass
class QualityClassifierFilter(DocumentFilter):
    """Score every page, keep the ones at or above ``min_score`` (the snapshot's top-fraction threshold).
    ``known``: scores already computed (``score_sample``'s), by id; only the other pages are scored."""

    source: str
    scorer: WikirefScorer
    min_score: float
    known: Mapping[str, float] = field(default_factory=dict)
    stage: str = STAGE

    def judge(self, batch: pa.RecordBatch) -> Judgement:
        ids = batch.column("id").to_pylist()
        scores = np.asarray([self.known.get(i, np.nan) for i in ids], np.float64)
        todo = np.flatnonzero(np.isnan(scores))
        if len(todo):
            texts = batch.column("text").take(pa.array(todo)).to_pylist()
            scores[todo] = self.scorer.score(texts)
        return Judgement(keep=scores >= self.min_score, reasons=drop_reason(self.min_score),
                         details=[f"p={s:.4f}" for s in scores],
                         columns={COLUMN: pa.array(scores, pa.float32())})


@dataclass(frozen=True)
class QualityFilterSettings:
    """``keep_fraction``: the share of each source's snapshot kept; the cut-off is taken over a hash-priority
    sample of at most ``max_sample_docs`` of its documents (``seed``: of the sample's hash)."""

    keep_fraction: float = QUALITY_CLASSIFIER_KEEP_FRACTION
    max_sample_docs: int = QUALITY_CLASSIFIER_SAMPLE_DOCS
    seed: int = 0
