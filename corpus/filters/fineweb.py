"""FineWeb's quality rules (Penedo et al. 2024, section 3.5; datatrove's ``FineWebQualityFilter``),
vectorised over an Arrow batch.

Lines are the text split on ``\\n`` without the blank ones (as datatrove). Drop reasons, in this order:
``fineweb_empty`` (no non-blank line), ``fineweb_line_punct_ratio`` (under 12% of lines end in a
sentence terminal), ``fineweb_short_line_ratio`` (over 67% of lines have <= 30 characters),
``fineweb_dup_line_chars`` (the characters of lines equal to an earlier line over 1% of the characters
without ``\\n``), ``fineweb_newlines_per_word`` (over 0.3 ``\\n`` per word). ``detail``: the measured value
against its limit.

Differences from datatrove: words for the last rule are ``gopher.tokenize`` tokens (symbol runs apart,
close to datatrove's SpaCy tokens; ``don't`` is 3 tokens here, 2 there); a line "ends in punctuation" when
its last character is in ``recipe.FINEWEB_LINE_END_CHARS`` (datatrove's list also has historic scripts'
terminals). As datatrove, a line's trailing spaces count: ``"end. "`` does not end in punctuation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpus import recipe
from corpus.filters.base import DocumentFilter, Judgement
from corpus.filters.gopher import flat_lists, record_failure, segment_duplicates, start_reasons, tokenize

STAGE = "fineweb_rules"


@dataclass(frozen=True)
class FineWebRules:
    min_line_punct_ratio: float = recipe.FINEWEB_MIN_LINE_PUNCT_RATIO
    max_short_line_ratio: float = recipe.FINEWEB_MAX_SHORT_LINE_RATIO
    short_line_chars: int = recipe.FINEWEB_SHORT_LINE_CHARS
    max_dup_line_char_ratio: float = recipe.FINEWEB_MAX_DUP_LINE_CHAR_RATIO
    max_newlines_per_word: float = recipe.FINEWEB_MAX_NEWLINES_PER_WORD
    line_end_chars: str = recipe.FINEWEB_LINE_END_CHARS


def _np(values) -> np.ndarray:
    return values.to_numpy(zero_copy_only=False)


def fineweb_reasons(texts: pa.Array | pa.ChunkedArray, rules: FineWebRules = FineWebRules()) -> tuple[np.ndarray, np.ndarray]:
    """Per document: the first failing rule's reason (None: kept) and its detail."""
    texts, reason, detail = start_reasons(texts)
    n_rows = len(texts)
    if n_rows == 0:
        return reason, detail
    split = pc.split_pattern(texts, "\n")
    values, rows, _ = flat_lists(split)
    blank = _np(pc.equal(pc.utf8_trim_whitespace(values), ""))
    offsets = np.zeros(n_rows + 1, np.int64)
    np.cumsum(np.bincount(rows[~blank], minlength=n_rows), out=offsets[1:])
    lines = values.filter(pa.array(~blank))
    line_rows = rows[~blank]
    n_lines = np.diff(offsets).astype(np.float64)
    safe_lines = np.maximum(n_lines, 1.0)
    record_failure(reason, detail, n_lines == 0, "fineweb_empty", n_lines, 1, "{:.0f}")

    ends = pc.utf8_slice_codeunits(lines, -1)
    punct = np.bincount(line_rows, weights=_np(pc.is_in(ends, value_set=pa.array(list(rules.line_end_chars)))),
                        minlength=n_rows) / safe_lines
    record_failure(reason, detail, punct < rules.min_line_punct_ratio, "fineweb_line_punct_ratio", punct,
                   rules.min_line_punct_ratio)
    short = np.bincount(line_rows, weights=_np(pc.utf8_length(lines)) <= rules.short_line_chars,
                        minlength=n_rows) / safe_lines
    record_failure(reason, detail, short > rules.max_short_line_ratio, "fineweb_short_line_ratio", short,
                   rules.max_short_line_ratio)
    _, _, dup_chars = segment_duplicates(pa.LargeListArray.from_arrays(pa.array(offsets), lines.cast(pa.large_string())),
                                         n_rows)
    chars = (_np(pc.utf8_length(texts)) - _np(pc.count_substring(texts, "\n"))).astype(np.float64)
    dup = dup_chars / np.maximum(chars, 1.0)
    record_failure(reason, detail, dup > rules.max_dup_line_char_ratio, "fineweb_dup_line_chars", dup,
                   rules.max_dup_line_char_ratio, "{:.4f}")
    alive = np.flatnonzero(reason == None)  # noqa: E711 (elementwise on an object array)
    if len(alive):
        words = tokenize(texts.take(pa.array(alive))).counts.astype(np.float64)
        newlines = _np(pc.count_substring(texts.take(pa.array(alive)), "\n")).astype(np.float64)
        ratio = newlines / np.maximum(words, 1.0)
        sub_reason, sub_detail = reason[alive], detail[alive]
        record_failure(sub_reason, sub_detail, ratio > rules.max_newlines_per_word, "fineweb_newlines_per_word", ratio,
                       rules.max_newlines_per_word)
        reason[alive], detail[alive] = sub_reason, sub_detail
    return reason, detail


@dataclass
class FineWebFilter(DocumentFilter):
    """FineWeb's rules over a batch's ``text``: the first failing rule is the drop reason."""

    source: str
    rules: FineWebRules = FineWebRules()
    stage: str = STAGE

    def judge(self, batch: pa.RecordBatch) -> Judgement:
        reason, detail = fineweb_reasons(batch.column("text"), self.rules)
        return Judgement(keep=reason == None, reasons=reason, details=detail)  # noqa: E711
