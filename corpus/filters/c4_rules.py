"""The C4 rules (Raffel et al. 2020, section 2.2; reference code: tensorflow_datasets' ``c4_utils.clean_page``,
as datatrove's ``C4QualityFilter``), vectorised over an Arrow batch: every line of every document is
judged by Arrow kernels over the batch's flattened lines, no Python loop per line.

Per line (stripped), in this order, as the reference: a line with a word over 1,000 characters is
removed; Wikipedia citation marks (``[1]``, ``[edit]``, ``[citation needed]``) are cut out; a line not
ending in ``. ? ! " '`` (or ending in ``...``) is removed; a line of fewer than 3 words is removed; then
a line holding "lorem ipsum" drops the document (``c4_lorem_ipsum``); a line naming "javascript" is
removed; a line holding ``{`` drops the document (``c4_curly_bracket``); a line naming a policy ("terms
of use", "uses cookies", ...) is removed. A document with fewer than 5 sentences in the lines it keeps
is dropped (``c4_too_few_sentences``); a kept document's ``text`` is its kept lines joined by ``\\n``.
The document-level rules look only at lines that survived the line rules before them, as the reference.
``detail``: the 1-based line that dropped the document, or the sentence count against its minimum.

Sentences: the reference counts NLTK (tfds) or SpaCy (datatrove) sentences of each kept line; here a
sentence ends at a run of ``. ! ? …`` (closing quotes/brackets after it) followed by whitespace or the end
of the line, and a kept line is at least one sentence. Abbreviations ("Mr. Smith") therefore count as a
sentence end here and not there: the counts differ only on pages near the 5-sentence minimum.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpus import recipe
from corpus.filters.base import DocumentFilter, Judgement
from corpus.filters.gopher import SPLITLINES, flat_lists, start_reasons, whitespace_words

STAGE = "c4_rules"
_SENTENCE_END = r"[.!?…]+['\"”’)\]]*(\s|$)"


@dataclass(frozen=True)
class C4Rules:
    end_punctuation: tuple[str, ...] = recipe.C4_END_PUNCTUATION
    min_words_per_line: int = recipe.C4_MIN_WORDS_PER_LINE
    min_sentences: int = recipe.C4_MIN_SENTENCES
    max_word_chars: int = recipe.C4_MAX_WORD_CHARS
    citation_pattern: str = recipe.C4_CITATION_PATTERN
    policy_substrings: tuple[str, ...] = recipe.C4_POLICY_SUBSTRINGS
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = True


def _np(values) -> np.ndarray:
    return values.to_numpy(zero_copy_only=False)


def _first_line(hit: np.ndarray, line_rows: np.ndarray, line_no: np.ndarray, n_rows: int) -> np.ndarray:
    """Per row: the 1-based number of its first line where ``hit`` holds (a large value where none does)."""
    first = np.full(n_rows, np.iinfo(np.int64).max)
    np.minimum.at(first, line_rows[hit], line_no[hit])
    return first


def c4_clean(texts: pa.Array | pa.ChunkedArray, rules: C4Rules = C4Rules()) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """Per document: the drop reason (None: kept), its detail, and the cleaned text (the kept lines)."""
    texts, reason, detail = start_reasons(texts)
    n_rows = len(texts)
    lines, line_rows, line_counts = flat_lists(pc.split_pattern_regex(texts, SPLITLINES))
    starts = np.zeros(n_rows, np.int64)
    np.cumsum(line_counts[:-1], out=starts[1:])
    line_no = np.arange(len(lines), dtype=np.int64) - starts[line_rows] + 1
    lines = pc.utf8_trim_whitespace(lines)

    words, word_lines, words_per_line = whitespace_words(lines)
    long_word = np.zeros(len(lines), bool)
    long_word[word_lines[_np(pc.utf8_length(words)) > rules.max_word_chars]] = True
    lines = pc.replace_substring_regex(lines, rules.citation_pattern, "")
    ends = np.zeros(len(lines), bool)
    for mark in rules.end_punctuation:
        ends |= _np(pc.ends_with(lines, mark))
    ends &= ~_np(pc.ends_with(lines, "..."))
    reach = ~long_word & ends & (words_per_line >= rules.min_words_per_line)
    lower = pc.utf8_lower(lines)

    doc_line = np.full(n_rows, np.iinfo(np.int64).max)
    doc_reason = np.full(n_rows, None, object)
    if rules.filter_lorem_ipsum:
        doc_line = _first_line(reach & _np(pc.match_substring(lower, "lorem ipsum")), line_rows, line_no, n_rows)
        doc_reason[doc_line < np.iinfo(np.int64).max] = "c4_lorem_ipsum"
    if rules.filter_javascript:
        reach &= ~_np(pc.match_substring(lower, "javascript"))
    if rules.filter_curly_bracket:
        first = _first_line(reach & _np(pc.match_substring(lines, "{")), line_rows, line_no, n_rows)
        doc_reason[first < doc_line] = "c4_curly_bracket"
        doc_line = np.minimum(doc_line, first)
    for phrase in rules.policy_substrings:
        reach &= ~_np(pc.match_substring(lower, phrase))

    hit = doc_reason != None  # noqa: E711 (elementwise on an object array)
    reason[hit] = doc_reason[hit]
    detail[hit] = [f"line {n}" for n in doc_line[hit]]
    kept_lines = lines.filter(pa.array(reach))
    kept_rows = line_rows[reach]
    per_line = np.maximum(_np(pc.count_substring_regex(kept_lines, _SENTENCE_END)), 1)
    sentences = np.bincount(kept_rows, weights=per_line, minlength=n_rows)
    few = ~hit & (sentences < rules.min_sentences)
    reason[few] = "c4_too_few_sentences"
    detail[few] = [f"{n:.0f} vs {rules.min_sentences}" for n in sentences[few]]

    offsets = np.zeros(n_rows + 1, np.int64)
    np.cumsum(np.bincount(kept_rows, minlength=n_rows), out=offsets[1:])
    joined = pc.binary_join(pa.LargeListArray.from_arrays(pa.array(offsets), kept_lines), pa.scalar("\n", kept_lines.type))
    return reason, detail, pc.utf8_trim_whitespace(joined).cast(texts.type)


@dataclass
class C4RulesFilter(DocumentFilter):
    """The C4 rules over a batch's ``text``: drops pages, and rewrites the kept ones to their kept lines."""

    source: str
    rules: C4Rules = C4Rules()
    stage: str = STAGE

    def judge(self, batch: pa.RecordBatch) -> Judgement:
        reason, detail, text = c4_clean(batch.column("text"), self.rules)
        return Judgement(keep=reason == None, reasons=reason, details=detail, columns={"text": text})  # noqa: E711
