"""Text normalisation shared by the dedup stages.

``normalize_for_hash`` (exact dedup) works on one string. The MinHash path has one normaliser,
``shingle_words``, over a whole batch: NFKC, lowercase, then *words* = maximal runs of Unicode letters,
marks and digits (categories L*, M*, N*) and ``_`` (kept as Python's ``\\w`` did, so Gutenberg's
``_italics_`` stay distinct words, as they were); everything else (punctuation, symbols, whitespace,
controls) separates words. ``normalize_for_shingles`` is the same normalisation as text (words joined by
one space), for whatever consumes strings (tests, the datasketch benchmark).

Why marks count as letters: Python's ``\\w`` leaves out Mn/Mc, which would cut Devanagari, Thai or
Hebrew words at every vowel sign. Why Python's ``unicodedata`` for NFKC rather than Arrow's
``utf8_normalize``: its quick check returns already-normalised text (nearly all of it) untouched, about
10x faster than utf8proc. The rest runs in numpy over the batch's UTF-8 bytes (no per-document regex).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyarrow as pa

_SPACES = re.compile(r"\s+")
_ASCII_WORD = np.zeros(128, bool)
for _r in ("az", "AZ", "09", "__"):
    _ASCII_WORD[ord(_r[0]):ord(_r[1]) + 1] = True
_LEAD_MASK = np.array([0, 0, 0x1F, 0x0F, 0x07], np.int32)  # payload bits of a 2/3/4-byte UTF-8 lead byte


def normalize_for_hash(text: str) -> str:
    """NFKC, lowercase, whitespace collapsed: two copies differing only in layout hash the same."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


@dataclass(frozen=True)
class Words:
    """The words of a batch of documents, in order: word i is ``data[offsets[i]:offsets[i + 1]]``
    (UTF-8); document d owns the next ``per_doc[d]`` words."""
    data: np.ndarray  # uint8
    offsets: np.ndarray  # int64, one more than the words
    per_doc: np.ndarray  # int64


def _utf8(texts: pa.Array | pa.ChunkedArray | Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """(UTF-8 bytes, int64 offsets per document) of the NFKC, lowercased texts (None -> "")."""
    if isinstance(texts, (pa.Array, pa.ChunkedArray)):
        texts = texts.to_pylist()
    arr = pa.array([unicodedata.normalize("NFKC", t).lower() if t else "" for t in texts], pa.large_string())
    offsets = np.frombuffer(arr.buffers()[1], np.int64, len(arr) + 1)
    data = arr.buffers()[2]
    return (np.frombuffer(data, np.uint8, int(offsets[-1])) if data is not None else np.empty(0, np.uint8)), offsets


def _word_bytes(b: np.ndarray) -> np.ndarray:
    """Per byte: is it part of a word character? (a multi-byte character's bytes share its flag)"""
    word = np.zeros(len(b), bool)
    ascii_ = b < 0x80
    word[ascii_] = _ASCII_WORD[b[ascii_]]
    lead = np.flatnonzero(b >= 0xC0)
    if len(lead) == 0:
        return word
    b0 = b[lead].astype(np.int32)
    size = 2 + (b0 >= 0xE0) + (b0 >= 0xF0)
    cp = b0 & _LEAD_MASK[size]
    for k in (1, 2, 3):
        more = size > k
        cp[more] = (cp[more] << 6) | (b[lead[more] + k] & 0x3F)
    distinct, inverse = np.unique(cp, return_inverse=True)
    is_word = np.fromiter((unicodedata.category(chr(c))[0] in "LMN" for c in distinct.tolist()), bool, len(distinct))
    word[lead] = is_word[inverse]
    for k in (1, 2, 3):
        tail = lead[size > k]
        word[tail + k] = word[tail]
    return word


def shingle_words(texts: pa.Array | pa.ChunkedArray | Sequence[str | None]) -> Words:
    """The normalised words of every document of the batch (see the module docstring)."""
    b, doc_offsets = _utf8(texts)
    word = _word_bytes(b)
    start, end = word.copy(), word.copy()
    start[1:] &= ~word[:-1]
    end[:-1] &= ~word[1:]
    inner = doc_offsets[1:-1]
    inner = inner[(inner > 0) & (inner < len(b))]  # a word never spans two documents
    start[inner] = word[inner]
    end[inner - 1] = word[inner - 1]
    starts, ends = np.flatnonzero(start), np.flatnonzero(end) + 1
    per_doc = np.diff(np.searchsorted(starts, doc_offsets))
    offsets = np.concatenate([[0], np.cumsum(ends - starts)])
    return Words(b[word], offsets, per_doc)


def normalize_for_shingles(texts: pa.Array | pa.ChunkedArray | Sequence[str | None]) -> pa.LargeStringArray:
    """``shingle_words`` as text: each document's words joined by single spaces."""
    w = shingle_words(texts)
    first = np.cumsum(w.per_doc) - w.per_doc  # index of each document's first word
    later = np.ones(len(w.offsets) - 1, bool)
    later[first[w.per_doc > 0]] = False
    data = np.insert(w.data, w.offsets[:-1][later], ord(" "))
    spaces = np.concatenate([[0], np.cumsum(np.maximum(w.per_doc - 1, 0))])
    doc_offsets = w.offsets[np.concatenate([first, [len(w.offsets) - 1]])] + spaces
    return pa.LargeStringArray.from_buffers(len(w.per_doc), pa.py_buffer(doc_offsets.astype(np.int64)),
                                            pa.py_buffer(data))
