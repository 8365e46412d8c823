"""CCNet language filter: fastText top-1 label and score on the text with newlines replaced by spaces;
a document is kept when its label is one of the kept languages and its score reaches the threshold.

Drop reasons: ``lang_score<T`` when the score is under the threshold T that applies to the predicted
label (checked first: an unsure prediction says nothing about the language), else ``lang=xx`` for a
confident prediction of a language not kept. ``detail`` is ``label:score`` for every drop, so the
language distribution of a stage can be rebuilt from its parts (``language_summary``) even for parts a
rerun skipped. Kept documents get ``lang`` and ``lang_score``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpus import recipe
from corpus.filters.base import DocumentFilter, Judgement
from corpus.storage import Location

STAGE = "langid"
SCORE_BINS = np.linspace(0.0, 1.0, 11)


def score_reason(threshold: float) -> str:
    return f"lang_score<{threshold:g}"


def language_reason(label: str) -> str:
    return f"lang={label}"


@dataclass
class LangIdFilter(DocumentFilter):
    """Fills ``lang``/``lang_score``; keeps ``keep_languages`` at or above their score threshold.
    ``identifier`` has ``predict(texts) -> (labels, scores)``."""

    identifier: object
    source: str
    keep_languages: Sequence[str] = recipe.CC_KEEP_LANGUAGES
    min_score: float = recipe.LANGID_MIN_SCORE
    min_score_per_language: Mapping[str, float] = field(default_factory=dict)
    stage: str = STAGE

    def threshold(self, label: str) -> float:
        return float(self.min_score_per_language.get(label, self.min_score))

    def judge(self, batch: pa.RecordBatch) -> Judgement:
        labels, scores = self.identifier.predict(batch.column("text").to_pylist())
        scores = np.asarray(scores, np.float32)
        thresholds = np.array([self.threshold(label) for label in labels], np.float32)
        keep_set = set(self.keep_languages)
        known = np.array([label in keep_set for label in labels], bool)
        unsure = scores < thresholds
        return Judgement(
            keep=known & ~unsure,
            reasons=[score_reason(t) if u else language_reason(label) for label, t, u in zip(labels, thresholds, unsure)],
            details=[f"{label}:{s:.4f}" for label, s in zip(labels, scores)],
            columns={"lang": pa.array(labels, pa.string()), "lang_score": pa.array(scores, pa.float32())},
        )


def language_summary(docs_files: Sequence[Location], dropped_files: Sequence[Location],
                     con: duckdb.DuckDBPyConnection | None = None) -> tuple[pa.Table, np.ndarray]:
    """(lang, docs, kept) per predicted language, most frequent first, and the score histogram
    (counts in ``SCORE_BINS``) over every document the stage saw. ``con`` (closed here) must be able
    to read the files: ``corpus.catalog.connect`` when they are on an object store."""
    con = con if con is not None else duckdb.connect()
    parts = []
    if docs_files:
        parts.append("SELECT lang, lang_score AS score, true AS kept FROM read_parquet($docs)")
    if dropped_files:
        parts.append("SELECT split_part(detail, ':', 1) AS lang, CAST(split_part(detail, ':', 2) AS FLOAT) AS score, "
                     "false AS kept FROM read_parquet($dropped)")
    if not parts:
        return pa.table({"lang": pa.array([], pa.string()), "docs": pa.array([], pa.int64()),
                         "kept": pa.array([], pa.int64())}), np.zeros(len(SCORE_BINS) - 1, np.int64)
    params = {}
    if docs_files:
        params["docs"] = [str(p) for p in docs_files]
    if dropped_files:
        params["dropped"] = [str(p) for p in dropped_files]
    seen = f"WITH seen AS ({' UNION ALL '.join(parts)}) "
    table = con.sql(seen + "SELECT lang, count(*) AS docs, count(*) FILTER (WHERE kept) AS kept FROM seen "
                    "GROUP BY lang ORDER BY docs DESC, lang", params=params).to_arrow_table()
    scores = con.sql(seen + "SELECT score FROM seen", params=params).to_arrow_table().column("score").to_numpy()
    con.close()
    hist, _ = np.histogram(np.clip(scores, 0.0, 1.0), bins=SCORE_BINS)
    return table, hist


def markdown_table(summary: pa.Table, limit: int = 30) -> str:
    rows = summary.slice(0, limit).to_pylist()
    lines = ["| language | docs | kept |", "|---|---|---|"] + [f"| {r['lang']} | {r['docs']} | {r['kept']} |" for r in rows]
    if summary.num_rows > limit:
        lines.append(f"| ({summary.num_rows - limit} more) | {int(pc.sum(summary.column('docs')).as_py()) - sum(r['docs'] for r in rows)} | |")
    return "\n".join(lines)
