"""LLaMA-1's Wikipedia-reference quality filter: a fastText classifier's P(wiki-ref) per document.

The text the classifier sees (at training and at filtering alike) is ``fasttext_text``: CCNet's
line normalisation (lowercase, accents stripped, digits -> 0, Unicode punctuation -> ASCII),
newlines to spaces, and punctuation split from words so "berlin." and "berlin" are one token
(fastText splits on whitespace only). A document is kept when P(wiki-ref) >= ``min_score``, the
threshold of the model's keep rule (0.25, RedPajama v1, for a model trained on real cited pages; a
threshold calibrated on held-out web documents for the curated fallback, see ``quality_models.wikiref``);
``quality_score`` holds the probability.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpus.filters.perplexity import normalize_line
from corpus.stage import BatchFilter, drops_table

STAGE = "wikiref"
POSITIVE = "__label__wikiref"
NEGATIVE = "__label__random"
_PUNCT = re.compile(r"([^\w\s])")
_SPACES = re.compile(r"\s+")


def fasttext_text(text: str) -> str:
    """One line of space-separated tokens for fastText."""
    lines = (normalize_line(line) for line in text.split("\n"))
    return _SPACES.sub(" ", _PUNCT.sub(r" \1 ", " ".join(line for line in lines if line))).strip()


def drop_reason(min_score: float) -> str:
    return f"wikiref<{min_score:g}"


class WikirefScorer:
    """A trained fastText model (loaded lazily); ``score`` gives P(``positive``) per text: P(wiki-ref) by
    default, the quality classifier's P(high quality) with its own label."""

    def __init__(self, model_path: Path, positive: str = POSITIVE):
        self.model_path = Path(model_path)
        self.positive = positive
        self._model = None

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return self.score_prepared([fasttext_text(t) for t in texts])

    def score_prepared(self, texts: Sequence[str]) -> np.ndarray:
        """P(wiki-ref) of texts already in ``fasttext_text`` form (all predicted in one call)."""
        if self._model is None:
            import fasttext

            self._model = fasttext.load_model(str(self.model_path))
        if not texts:
            return np.zeros(0)
        labels, probs = self._model.predict(list(texts), k=-1, threshold=0.0)
        out = np.zeros(len(texts))
        for i, (labs, ps) in enumerate(zip(labels, probs)):
            for lab, p in zip(labs, ps):
                if lab == self.positive:
                    out[i] = min(float(p), 1.0)
        return out


def wikiref_filter(scorer: WikirefScorer, min_score: float, source: str) -> BatchFilter:
    """Fill ``quality_score``; drop documents under ``min_score`` (reason ``wikiref<0.25``)."""
    reason = drop_reason(min_score)

    def process(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, pa.Table]:
        scores = scorer.score(batch.column("text").to_pylist())
        out = batch.set_column(batch.schema.get_field_index("quality_score"), "quality_score",
                               pa.array(scores, pa.float32()))
        keep = scores >= min_score
        drops = drops_table(pc.filter(batch.column("id"), pa.array(~keep)), source, STAGE, reason,
                            [f"p={s:.3f}" for s in scores[~keep]])
        return out.filter(pa.array(keep)), drops

    return process
