"""Gopher quality and repetition rules (Rae et al. 2021, section A.1.1 and Table A1), vectorized over an
Arrow record batch: every statistic of every document is computed by Arrow compute kernels and numpy
over the batch's flattened tokens, lines and n-grams; no Python loop runs per document or per word.

Quality (drop reasons, checked in this order; the first failing rule is reported):
``gopher_too_few_words`` / ``gopher_too_many_words`` (non-symbol words outside 50..100,000),
``gopher_mean_word_short`` / ``gopher_mean_word_long`` (mean non-symbol word length outside 3..10),
``gopher_hash_ratio`` / ``gopher_ellipsis_ratio`` ('#' or '...'/'…' per word over 0.1),
``gopher_bullet_lines`` (over 90% of lines start with '•' or '-'), ``gopher_ellipsis_lines`` (over 30% end
with an ellipsis), ``gopher_alpha_words`` (under 80% of words hold a letter), ``gopher_stop_words``
(fewer than 2 of the, be, to, of, and, that, have, with). Repetition: ``gopher_dup_para_frac``,
``gopher_dup_para_chars``, ``gopher_dup_line_frac``, ``gopher_dup_line_chars``, ``gopher_top_{n}_gram``
(n = 2, 3, 4), ``gopher_dup_{n}_gram`` (n = 5..10). ``detail`` is the measured value against its limit.

Definitions follow datatrove's GopherQualityFilter / GopherRepetitionFilter (RECIPE.md: its defaults
match the paper) with these deliberate differences:

- Words (the quality rules): whitespace-separated, as the paper counts them; a non-symbol word holds a
  letter or a digit. The word count and mean length are over non-symbol words, the '#'/ellipsis ratios
  and the alpha-words rule over all words (so ``3.5``, ``1990,`` or a URL is one word, and a lone ``-``
  one word too). datatrove counts SpaCy tokens instead: punctuation marks are words there (``end).`` is 3
  tokens), so prose with many commas, brackets and numbers fails its alpha rule (a datatrove TODO calls
  the threshold ``max_non_alpha_words_ratio``); 22 of the 106 Wikipedia sample articles did here too
  before words were whitespace words.
- Stop words are matched case-insensitively on the word without its edge punctuation (``The``, ``the,``;
  datatrove: case-sensitive, so a text whose only "the" is "The" fails there); the count is of distinct
  stop words, as datatrove.
- Tokens (the repetition rules' n-grams): runs of letters/digits/marks/underscore, and runs of other
  non-space characters as separate tokens, close to datatrove's SpaCy tokens (``don't`` -> ``do n't``
  there, ``don ' t`` here); n-grams are joined by one space, as datatrove.
- Duplicated n-gram characters: the characters of every token covered by an occurrence of an n-gram
  that is not its first occurrence in the document, overlaps counted once (the paper's definition).
  datatrove's greedy scan skips n tokens after a repeat and never adds the skipped n-grams to its set,
  so it counts slightly less on overlapping repeats.
- Lines for the bullet/ellipsis rules are split like ``str.splitlines``; for the duplicate-line rule on
  runs of ``\\n`` (as datatrove); paragraphs on ``\\n\\n+`` after stripping the text.

N-grams are keyed by a 64-bit mix of their token ids and the document (a collision, p ~ 2^-64 per pair,
could merge two n-grams). The n-gram rules run only on documents that passed every earlier rule.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpus import recipe
from corpus.filters.base import DocumentFilter, Judgement

STAGE = "gopher"
# Runs of symbols become their own tokens: surround them with spaces, then split on whitespace.
_SYMBOL_RUN = r"([^\p{L}\p{N}\p{M}_\s]+)"
# the punctuation around a word ("the," "(of") is not part of it for the stop-word rule
_EDGE_SYMBOLS = r"^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$"
SPLITLINES = "\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]"
_BULLET = r"^[\s\p{Z}]*[•\-]"
_END_ELLIPSIS = r"(\.\.\.|…)[\s\p{Z}]*$"
_U64 = np.uint64


@dataclass(frozen=True)
class GopherRules:
    min_words: int = recipe.GOPHER_MIN_WORDS
    max_words: int = recipe.GOPHER_MAX_WORDS
    min_mean_word_chars: float = recipe.GOPHER_MIN_MEAN_WORD_CHARS
    max_mean_word_chars: float = recipe.GOPHER_MAX_MEAN_WORD_CHARS
    max_symbol_word_ratio: float = recipe.GOPHER_MAX_SYMBOL_WORD_RATIO
    max_bullet_lines_ratio: float = recipe.GOPHER_MAX_BULLET_LINES_RATIO
    max_ellipsis_lines_ratio: float = recipe.GOPHER_MAX_ELLIPSIS_LINES_RATIO
    min_alpha_words_ratio: float = recipe.GOPHER_MIN_ALPHA_WORDS_RATIO
    min_stop_words: int = recipe.GOPHER_MIN_STOP_WORDS
    stop_words: tuple[str, ...] = recipe.GOPHER_STOP_WORDS
    max_dup_para_frac: float = recipe.GOPHER_MAX_DUP_PARA_FRAC
    max_dup_para_char_frac: float = recipe.GOPHER_MAX_DUP_PARA_CHAR_FRAC
    max_dup_line_frac: float = recipe.GOPHER_MAX_DUP_LINE_FRAC
    max_dup_line_char_frac: float = recipe.GOPHER_MAX_DUP_LINE_CHAR_FRAC
    top_ngram_char_frac: tuple[tuple[int, float], ...] = recipe.GOPHER_TOP_NGRAM_CHAR_FRAC
    dup_ngram_char_frac: tuple[tuple[int, float], ...] = recipe.GOPHER_DUP_NGRAM_CHAR_FRAC


# ------------------------------------------------------------------------------- vector helpers

def flat_lists(lists: pa.ListArray) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Flattened values, the row of each value, and the values per row."""
    counts = pc.list_value_length(lists).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    rows = np.repeat(np.arange(len(lists), dtype=np.int64), counts)
    return pc.list_flatten(lists), rows, counts


def whitespace_words(texts: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """``flat_lists`` of each text's whitespace-separated words (``str.split()``: Arrow's split leaves an
    empty string where a text starts or ends with whitespace, or is empty; those are not words)."""
    values, rows, _ = flat_lists(pc.utf8_split_whitespace(texts))
    nonempty = pc.greater(pc.binary_length(values), 0)
    values, rows = values.filter(nonempty), rows[nonempty.to_numpy(zero_copy_only=False)]
    return values, rows, np.bincount(rows, minlength=len(texts)).astype(np.int64)


def _first_occurrence(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group id of each key, numbered by first appearance; True where a key appears for the first time).
    A hash table (Arrow's dictionary_encode), O(n), no sort."""
    encoded = pc.dictionary_encode(pa.array(keys))
    ids = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    first_pos = np.empty(len(encoded.dictionary), np.int64)
    positions = np.arange(len(ids), dtype=np.int64)
    first_pos[ids[::-1]] = positions[::-1]  # the last write is the earliest position
    return ids, first_pos[ids] == positions


def _row_key(rows: np.ndarray, ids: np.ndarray) -> np.ndarray:
    return (rows.astype(_U64) << _U64(32)) | ids.astype(_U64)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (uint64 arithmetic wraps)."""
    x = (x ^ (x >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> _U64(27))) * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


def segment_duplicates(segments: pa.ListArray, n_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: (segments, segments equal to an earlier one of the row, characters of those)."""
    values, rows, counts = flat_lists(segments)
    if len(values) == 0:
        return counts, np.zeros(n_rows), np.zeros(n_rows)
    ids = pc.dictionary_encode(values).indices.to_numpy(zero_copy_only=False)
    _, first = _first_occurrence(_row_key(rows, ids))
    lengths = pc.utf8_length(values).to_numpy(zero_copy_only=False).astype(np.float64)
    dup = ~first
    return (counts, np.bincount(rows[dup], minlength=n_rows).astype(np.float64),
            np.bincount(rows[dup], weights=lengths[dup], minlength=n_rows))


@dataclass
class _Tokens:
    rows: np.ndarray      # row of each token
    ids: np.ndarray       # token id (equal strings, equal ids)
    lengths: np.ndarray   # characters
    counts: np.ndarray    # tokens per row
    starts: np.ndarray    # first token of each row in the flat arrays
    values: pa.Array = field(repr=False)


def tokenize(texts: pa.Array) -> _Tokens:
    values, rows, counts = whitespace_words(pc.replace_substring_regex(texts, _SYMBOL_RUN, r" \1 "))
    ids = pc.dictionary_encode(values).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    lengths = pc.utf8_length(values).to_numpy(zero_copy_only=False).astype(np.int64)
    starts = np.zeros(len(counts), np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    return _Tokens(rows, ids, lengths, counts, starts, values)


def ngram_stats(tok: _Tokens, n_rows: int, top_ns: Sequence[int], dup_ns: Sequence[int]) -> dict[int, np.ndarray]:
    """Per row and n: characters in the most frequent n-gram x its count (``top_ns``; n-grams joined by
    one space, as datatrove), or characters of tokens covered by repeated n-grams (``dup_ns``).

    An n-gram can repeat only where its first (n-1) tokens repeat, so n-gram n is hashed and counted only
    at the positions whose (n-1)-gram occurs twice or more in its row: after the 1- and 2-grams the
    candidate set is small, and the cost is ~2 hash-table passes over the tokens instead of one per n.
    A row with no repeated n-gram has the first n-gram as its top one (count 1), as Counter.most_common.
    """
    out: dict[int, np.ndarray] = {}
    w = len(tok.ids)
    csum = np.zeros(w + 1, np.int64)
    np.cumsum(tok.lengths, out=csum[1:])
    base = tok.ids.astype(_U64) + _U64(1)
    ends = tok.starts + tok.counts
    cand = np.arange(w, dtype=np.int64)  # positions whose (n-1)-gram repeats (n = 1: every position)
    h = _mix(base ^ _mix(tok.rows.astype(_U64) + _U64(0x9E3779B97F4A7C15)))  # 1-gram hashes at ``cand``
    for n in range(1, max([*top_ns, *dup_ns, 1]) + 1):
        if n > 1:
            fits = cand + n <= ends[tok.rows[cand]]
            cand, h = cand[fits], h[fits]
            h = _mix(h * _U64(0x100000001B3) ^ base[cand + n - 1])
        if len(cand):
            group, first = _first_occurrence(h)
            count = np.bincount(group)
        else:
            group, first, count = np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0, np.int64)
        if n in top_ns:
            value = np.zeros(n_rows)
            has = tok.counts >= n  # fallback: the row's first n-gram, once
            first_tok = tok.starts[has]
            value[has] = (csum[first_tok + n] - csum[first_tok] + (n - 1)).astype(np.float64)
            rep = np.flatnonzero(count >= 2)  # groups are numbered by first appearance, in position order
            if len(rep):
                g_pos = cand[first][rep]
                g_rows = tok.rows[g_pos]
                chars = csum[g_pos + n] - csum[g_pos] + (n - 1)
                best = np.zeros(n_rows, np.int64)
                np.maximum.at(best, g_rows, count[rep])
                top = np.flatnonzero(count[rep] == best[g_rows])  # datatrove: among equal counts, the first seen
                top_rows = g_rows[top]
                take = np.ones(len(top), bool)
                take[1:] = top_rows[1:] != top_rows[:-1]
                value[top_rows[take]] = (count[rep][top[take]] * chars[top[take]]).astype(np.float64)
            out[n] = value
        if n in dup_ns:
            dup_starts = cand[~first]
            diff = np.zeros(w + 1, np.int64)
            np.add.at(diff, dup_starts, 1)
            np.add.at(diff, dup_starts + n, -1)
            covered = np.cumsum(diff[:w]) > 0
            out[n] = np.bincount(tok.rows[covered], weights=tok.lengths[covered], minlength=n_rows)
        keep = count[group] >= 2 if len(cand) else np.zeros(0, bool)
        cand, h = cand[keep], h[keep]
    return out


# ------------------------------------------------------------------------------- the filter

def no_reasons(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full(n, None, object), np.full(n, None, object)


def start_reasons(texts: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """The texts as one array, and a reason and a detail per document, none yet (the rule families' start)."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    return (texts, *no_reasons(len(texts)))


def record_failure(reason: np.ndarray, detail: np.ndarray, fails: np.ndarray, name: str, value: np.ndarray, limit: float,
           fmt: str = "{:.3f}") -> None:
    new = fails & (reason == None)  # noqa: E711 (elementwise on an object array)
    reason[new] = name
    if new.any():
        detail[new] = [f"{fmt.format(v)} vs {limit:g}" for v in value[new]]


def gopher_reasons(texts: pa.Array | pa.ChunkedArray, rules: GopherRules = GopherRules()) -> tuple[np.ndarray, np.ndarray]:
    """Per document: the first failing rule's reason (None: kept) and its detail."""
    texts, reason, detail = start_reasons(texts)
    n_rows = len(texts)
    if n_rows == 0:
        return reason, detail
    text_len = pc.utf8_length(texts).to_numpy(zero_copy_only=False).astype(np.float64)
    safe_len = np.maximum(text_len, 1.0)

    # --- quality: words (the paper's: whitespace-separated; a "non-symbol" word holds a letter or digit)
    words, word_rows, word_counts = whitespace_words(texts)
    has_letter = pc.match_substring_regex(words, r"\p{L}").to_numpy(zero_copy_only=False)
    is_word = pc.match_substring_regex(words, r"[\p{L}\p{N}]").to_numpy(zero_copy_only=False)
    word_lengths = pc.utf8_length(words).to_numpy(zero_copy_only=False).astype(np.float64)
    safe_words = np.maximum(word_counts, 1).astype(np.float64)
    n_words = np.bincount(word_rows[is_word], minlength=n_rows).astype(np.float64)
    word_chars = np.bincount(word_rows[is_word], weights=word_lengths[is_word], minlength=n_rows)
    mean_len = np.divide(word_chars, n_words, out=np.zeros(n_rows), where=n_words > 0)
    record_failure(reason, detail, n_words < rules.min_words, "gopher_too_few_words", n_words, rules.min_words, "{:.0f}")
    record_failure(reason, detail, n_words > rules.max_words, "gopher_too_many_words", n_words, rules.max_words, "{:.0f}")
    record_failure(reason, detail, mean_len < rules.min_mean_word_chars, "gopher_mean_word_short", mean_len, rules.min_mean_word_chars)
    record_failure(reason, detail, mean_len > rules.max_mean_word_chars, "gopher_mean_word_long", mean_len, rules.max_mean_word_chars)
    hashes = pc.count_substring(texts, "#").to_numpy(zero_copy_only=False) / safe_words
    record_failure(reason, detail, hashes > rules.max_symbol_word_ratio, "gopher_hash_ratio", hashes, rules.max_symbol_word_ratio)
    ellipses = (pc.count_substring(texts, "...").to_numpy(zero_copy_only=False)
                + pc.count_substring(texts, "…").to_numpy(zero_copy_only=False)) / safe_words
    record_failure(reason, detail, ellipses > rules.max_symbol_word_ratio, "gopher_ellipsis_ratio", ellipses, rules.max_symbol_word_ratio)

    # --- quality: lines
    lines = pc.split_pattern_regex(texts, SPLITLINES)
    line_values, line_rows, line_counts = flat_lists(lines)
    safe_lines = np.maximum(line_counts, 1).astype(np.float64)
    bullets = np.bincount(line_rows, weights=pc.match_substring_regex(line_values, _BULLET).to_numpy(zero_copy_only=False),
                          minlength=n_rows) / safe_lines
    record_failure(reason, detail, bullets > rules.max_bullet_lines_ratio, "gopher_bullet_lines", bullets, rules.max_bullet_lines_ratio)
    ends = np.bincount(line_rows, weights=pc.match_substring_regex(line_values, _END_ELLIPSIS).to_numpy(zero_copy_only=False),
                       minlength=n_rows) / safe_lines
    record_failure(reason, detail, ends > rules.max_ellipsis_lines_ratio, "gopher_ellipsis_lines", ends, rules.max_ellipsis_lines_ratio)
    alpha = np.bincount(word_rows[has_letter], minlength=n_rows) / safe_words
    record_failure(reason, detail, alpha < rules.min_alpha_words_ratio, "gopher_alpha_words", alpha, rules.min_alpha_words_ratio)
    bare = pc.utf8_lower(pc.replace_substring_regex(words, _EDGE_SYMBOLS, ""))
    stop_index = pc.index_in(bare, value_set=pa.array(list(rules.stop_words))).to_numpy(zero_copy_only=False)
    stop_index = np.nan_to_num(stop_index.astype(np.float64), nan=-1).astype(np.int64)
    hit = stop_index >= 0
    distinct = np.zeros((n_rows, max(len(rules.stop_words), 1)), bool)
    distinct[word_rows[hit], stop_index[hit]] = True
    stops = distinct.sum(axis=1).astype(np.float64)
    record_failure(reason, detail, stops < rules.min_stop_words, "gopher_stop_words", stops, rules.min_stop_words, "{:.0f}")

    # --- repetition: paragraphs and lines
    paras = pc.split_pattern_regex(pc.utf8_trim_whitespace(texts), r"\n\n+")
    n_paras, dup_paras, dup_para_chars = segment_duplicates(paras, n_rows)
    frac = dup_paras / np.maximum(n_paras, 1)
    record_failure(reason, detail, frac > rules.max_dup_para_frac, "gopher_dup_para_frac", frac, rules.max_dup_para_frac)
    frac = dup_para_chars / safe_len
    record_failure(reason, detail, frac > rules.max_dup_para_char_frac, "gopher_dup_para_chars", frac, rules.max_dup_para_char_frac)
    n_lines, dup_lines, dup_line_chars = segment_duplicates(pc.split_pattern_regex(texts, r"\n+"), n_rows)
    frac = dup_lines / np.maximum(n_lines, 1)
    record_failure(reason, detail, frac > rules.max_dup_line_frac, "gopher_dup_line_frac", frac, rules.max_dup_line_frac)
    frac = dup_line_chars / safe_len
    record_failure(reason, detail, frac > rules.max_dup_line_char_frac, "gopher_dup_line_chars", frac, rules.max_dup_line_char_frac)

    # --- repetition: n-grams (of tokens), only on the documents still kept
    alive = np.flatnonzero(reason == None)  # noqa: E711
    if len(alive):
        sub = tokenize(texts.take(pa.array(alive)) if len(alive) < n_rows else texts)
        top_ns = [n for n, _ in rules.top_ngram_char_frac]
        dup_ns = [n for n, _ in rules.dup_ngram_char_frac]
        stats = ngram_stats(sub, len(alive), top_ns, dup_ns)
        sub_reason, sub_detail = reason[alive], detail[alive]
        for n, limit in rules.top_ngram_char_frac:
            frac = stats[n] / safe_len[alive]
            record_failure(sub_reason, sub_detail, frac > limit, f"gopher_top_{n}_gram", frac, limit)
        for n, limit in rules.dup_ngram_char_frac:
            frac = stats[n] / safe_len[alive]
            record_failure(sub_reason, sub_detail, frac > limit, f"gopher_dup_{n}_gram", frac, limit)
        reason[alive], detail[alive] = sub_reason, sub_detail
    return reason, detail


@dataclass
class GopherFilter(DocumentFilter):
    """The Gopher rules over a batch's ``text``: the first failing rule is the drop reason."""

    source: str
    rules: GopherRules = field(default_factory=GopherRules)
    stage: str = STAGE

    def judge(self, batch: pa.RecordBatch) -> Judgement:
        reason, detail = gopher_reasons(batch.column("text"), self.rules)
        return Judgement(keep=reason == None, reasons=reason, details=detail)  # noqa: E711
