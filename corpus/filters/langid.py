"""CCNet language filter: fastText top-1 label and score on the text with newlines replaced by spaces;
a document is kept when its label is one of the kept languages and its score reaches the threshold.

Drop reasons: ``lang_score<T`` when the score is under the threshold T that applies to the predicted
label (checked first: an unsure prediction says nothing about the language), else ``lang=xx`` for a
confident prediction of a language not kept. ``detail`` is ``label:score`` for every drop. Kept
documents get ``lang`` and ``lang_score``. The filter counts every document it sees per predicted
language (kept or not) and bins its score, into the part's stats: ``language_summary`` and
``stage_report`` build the stage's metadata from them, skipped parts included.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpus import plots, recipe
from corpus.filters.base import DocumentFilter, Judgement
from corpus.storage import PartStats, atomic_path

STAGE = "langid"
SCORE_BINS = np.linspace(0.0, 1.0, 11)
# the part stats' counter names: documents per predicted language, and those kept
SEEN_PREFIX, KEPT_PREFIX = "docs:", "kept:"
SCORE_HISTOGRAM = "lang_score"


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
    keep_languages: tuple[str, ...] = recipe.CC_KEEP_LANGUAGES
    min_score: float = recipe.LANGID_MIN_SCORE
    # e.g. {"en": 0.65} (FineWeb's English threshold); languages not listed use min_score
    min_score_per_language: dict[str, float] = field(default_factory=dict)
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
        keep = known & ~unsure
        seen, kept = Counter(labels), Counter(label for label, k in zip(labels, keep) if k)
        return Judgement(
            keep=keep,
            reasons=[score_reason(t) if u else language_reason(label) for label, t, u in zip(labels, thresholds, unsure)],
            details=[f"{label}:{s:.4f}" for label, s in zip(labels, scores)],
            columns={"lang": pa.array(labels, pa.string()), "lang_score": pa.array(scores, pa.float32())},
            counters={**{SEEN_PREFIX + k: n for k, n in seen.items()}, **{KEPT_PREFIX + k: n for k, n in kept.items()}},
            histograms={SCORE_HISTOGRAM: np.histogram(np.clip(scores, 0.0, 1.0), bins=SCORE_BINS)[0].tolist()},
        )


def language_summary(stats: PartStats) -> tuple[pa.Table, np.ndarray]:
    """(lang, docs, kept) per predicted language, most frequent first, and the score histogram (counts
    in ``SCORE_BINS``) over every document the stage saw, from the counts its filter kept in ``stats``."""
    seen = {name.removeprefix(SEEN_PREFIX): n for name, n in stats.counters.items() if name.startswith(SEEN_PREFIX)}
    rows = sorted(seen.items(), key=lambda kv: (-kv[1], kv[0]))
    table = pa.table({"lang": pa.array([lang for lang, _ in rows], pa.string()),
                      "docs": pa.array([n for _, n in rows], pa.int64()),
                      "kept": pa.array([stats.counters.get(KEPT_PREFIX + lang, 0) for lang, _ in rows], pa.int64())})
    hist = np.asarray(stats.histograms.get(SCORE_HISTOGRAM, [0] * (len(SCORE_BINS) - 1)), np.int64)
    return table, hist


def stage_report(stats: PartStats, plot_path: Path, shown: int = 30) -> dict[str, Any]:
    """The language ID stage's metadata from its parts' stats: the languages as a table and a plot (also
    written to ``plot_path``) and the score histogram."""
    summary, hist = language_summary(stats)
    rows = summary.slice(0, shown).to_pylist()
    png = plots.stacked_bar_plot([r["lang"] for r in rows], [r["kept"] for r in rows], [r["docs"] for r in rows],
                                 title="language ID: documents per predicted language")
    with atomic_path(plot_path) as tmp:
        tmp.write_bytes(png)
    return dict(languages=plots.Markdown(markdown_table(summary, shown)),
                languages_plot=plots.Markdown(plots.as_markdown_image(png, "documents per language")),
                languages_plot_path=plot_path,
                score_histogram=plots.Markdown(plots.histogram_table(hist, SCORE_BINS)))


def markdown_table(summary: pa.Table, limit: int = 30) -> str:
    rows = summary.slice(0, limit).to_pylist()
    lines = ["| language | docs | kept |", "|---|---|---|"] + [f"| {r['lang']} | {r['docs']} | {r['kept']} |" for r in rows]
    if summary.num_rows > limit:
        lines.append(f"| ({summary.num_rows - limit} more) | {int(pc.sum(summary.column('docs')).as_py()) - sum(r['docs'] for r in rows)} | |")
    return "\n".join(lines)
