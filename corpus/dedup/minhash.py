"""MinHash signatures of word n-grams, computed for a whole batch of documents at once.

Why not datasketch's ``MinHash`` per document: it hashes each shingle in a Python call and permutes
one document at a time. Here a batch is one pass of array operations:

1. text -> words by ``corpus.text.shingle_words`` (NFKC, lowercase, runs of letters/marks/digits);
2. a word's 64-bit hash is ``mix64(sum of BYTE_KEY[byte] * POSITION_KEY[position])`` over its UTF-8
   bytes (distinct words differ in some (position, byte) term), computed for all words at once; an
   n-gram's hash is ``mix64(sum_k NGRAM_KEY[k] * word_hash[k])`` (order-sensitive), computed as n shifted
   slices of one array in which every document is followed by n-1 zero words, so a window never
   crosses documents and a document shorter than n words gets one shingle: its whole text;
3. permutations are multiply-add in uint32 (``a*x + b mod 2**32``, ``a`` odd: a bijection of the high
   32 bits of the well-mixed shingle hash; native 32-bit SIMD multiplies, where numpy emulates 64-bit
   ones); ``np.minimum.reduceat`` takes the minimum per document, over blocks of shingles small enough
   to stay in cache, whatever the document sizes.

datasketch still serves for the band/row choice (``datasketch.lsh._optimal_param``: minimises the
weighted false-positive + false-negative areas under the LSH S-curve), and as the reference the
benchmark compares against.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasketch.lsh import _optimal_param

from corpus import recipe
from corpus.text import shingle_words

SEED = 0x5EED  # the permutations' seed: part of the signature fingerprint
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S32 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(32)
_START = np.uint64(0x9E3779B97F4A7C15)
EMPTY = np.uint32(0xFFFFFFFF)  # the signature value of a document without a single word
SHINGLE_CHUNK = 1 << 13  # shingles permuted at once: 8k x 128 perms x 4 bytes = 4 MiB, near the L2 size


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser over a uint64 array (wrapping arithmetic)."""
    x = x ^ (x >> _S30)
    x *= _M1
    x ^= x >> _S27
    x *= _M2
    x ^= x >> _S31
    return x


def _keys(n: int, salt: int) -> np.ndarray:
    """n odd pseudo-random uint64 multipliers (fixed: part of the hash definition)."""
    return mix64(np.arange(n, dtype=np.uint64) + np.uint64(salt * int(_START) % 2**64)) | np.uint64(1)


BYTE_KEY = _keys(256, 1)


@dataclass(frozen=True)
class MinHashParams:
    ngram: int = recipe.MINHASH_NGRAM
    num_perm: int = recipe.MINHASH_NUM_PERM
    bands: int = 0
    rows: int = 0
    threshold: float = recipe.MINHASH_THRESHOLD  # the dedup threshold: verified pairs at J >= it are duplicates
    candidate_threshold: float = recipe.MINHASH_THRESHOLD  # the LSH's: what bands x rows are chosen for
    seed: int = SEED

    @classmethod
    def for_threshold(cls, threshold: float = recipe.MINHASH_THRESHOLD, num_perm: int = recipe.MINHASH_NUM_PERM,
                      ngram: int = recipe.MINHASH_NGRAM, candidate_threshold: float | None = None) -> "MinHashParams":
        """Bands x rows minimising the FP + FN areas for ``candidate_threshold`` (default: ``threshold``;
        datasketch's own optimiser, equal weights as MinHashLSH's default): 0.8 / 128 perms -> 9 x 13,
        0.9 -> 5 x 25, 0.55 (``recipe.NEAR_DEDUP_CANDIDATE_THRESHOLD``) -> 21 x 6."""
        candidate = threshold if candidate_threshold is None else candidate_threshold
        if not 0 < candidate <= threshold <= 1:
            raise ValueError(f"the LSH candidate threshold {candidate} must be in (0, the dedup threshold {threshold}]")
        bands, rows = _optimal_param(candidate, num_perm, *recipe.MINHASH_FP_FN_WEIGHTS)
        return cls(ngram=ngram, num_perm=num_perm, bands=bands, rows=rows, threshold=threshold,
                   candidate_threshold=candidate)

    def as_dict(self) -> dict:
        return asdict(self)


def permutations(num_perm: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) uint32 of each permutation ``a*x + b mod 2**32``; ``a`` odd, so it is a bijection."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**31, size=num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = rng.integers(0, 2**32, size=num_perm, dtype=np.uint32)
    return a, b


def word_hashes(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """uint64 hash of each word ``data[offsets[i]:offsets[i + 1]]`` (non-empty), all words at once."""
    lengths = np.diff(offsets)
    position = np.arange(len(data)) - np.repeat(offsets[:-1], lengths)
    terms = BYTE_KEY[data]
    terms *= _keys(int(lengths.max()), 2)[position]
    return mix64(np.add.reduceat(terms, offsets[:-1]))


def shingle_hashes(texts: pa.Array | pa.ChunkedArray | Sequence[str], ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """(uint64 hash of every word n-gram of the batch, in document order; n-grams per document)."""
    words = shingle_words(texts)
    nwords = words.per_doc
    counts = np.where(nwords >= ngram, nwords - ngram + 1, np.minimum(nwords, 1))
    if counts.sum() == 0:
        return np.empty(0, np.uint64), counts
    doc = np.repeat(np.arange(len(nwords)), nwords)
    slot = np.arange(len(doc)) + doc * (ngram - 1)  # each document followed by ngram-1 zero words
    padded = np.zeros(len(doc) + len(nwords) * (ngram - 1), np.uint64)
    padded[slot] = word_hashes(words.data, words.offsets)
    windows = len(padded) - (ngram - 1)
    h = np.zeros(windows, np.uint64)
    for k, key in enumerate(_keys(ngram, 3)):
        h += key * padded[k:k + windows]
    first = np.cumsum(nwords) - nwords
    shingle = np.arange(len(doc)) - first[doc] < counts[doc]  # the words that start an n-gram
    return mix64(h[slot[shingle]]), counts


def signatures_from_shingles(hashes: np.ndarray, counts: np.ndarray, num_perm: int, seed: int = SEED,
                             chunk: int = SHINGLE_CHUNK) -> np.ndarray:
    """(documents, num_perm) uint32 MinHash matrix; a document with no shingle is all ``EMPTY``."""
    a, b = permutations(num_perm, seed)
    a, b = a[:, None], b[:, None]
    x = (hashes >> _S32).astype(np.uint32)
    out = np.full((len(counts), num_perm), EMPTY, np.uint32)
    doc = np.repeat(np.arange(len(counts)), counts)
    block = np.empty((num_perm, min(chunk, len(x))), np.uint32)  # (perms, shingles): reduceat along rows
    for s in range(0, len(x), chunk):
        d = doc[s:s + chunk]
        y = block[:, :len(d)]
        np.multiply(a, x[s:s + chunk], out=y)
        y += b
        bounds = np.flatnonzero(np.concatenate([[True], d[1:] != d[:-1]]))
        docs = d[bounds]  # a document split between blocks keeps the smaller of its two minima
        out[docs] = np.minimum(out[docs], np.minimum.reduceat(y, bounds, axis=1).T)
    return out


def signatures(texts: pa.Array | pa.ChunkedArray | Sequence[str], params: MinHashParams) -> tuple[np.ndarray, np.ndarray]:
    """(signature matrix, shingles per document) of a batch of texts."""
    hashes, counts = shingle_hashes(texts, params.ngram)
    return signatures_from_shingles(hashes, counts, params.num_perm, params.seed), counts


def shingle_sets(texts: pa.Array | pa.ChunkedArray | Sequence[str], ngram: int) -> list[np.ndarray]:
    """The sorted distinct shingle hashes of each text (for the exact Jaccard check), hashed as one batch
    (a sort per document: cheaper than one two-key sort of the batch)."""
    hashes, counts = shingle_hashes(texts, ngram)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return [np.unique(hashes[bounds[i]:bounds[i + 1]]) for i in range(len(counts))]


def shingle_set(text: str, ngram: int) -> np.ndarray:
    return shingle_sets([text], ngram)[0]


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard of two sorted distinct shingle-hash sets."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    return float(np.mean(sig_a == sig_b))


# --- signatures stored per part (incremental: a part's signatures are reused while it is current) ---

SIGNATURE_BATCH_ROWS = 1024
SIGNATURE_BATCH_CHARS = 16 << 20  # bounds the shingle arrays of a batch (books are ~0.5M chars each)


def signature_schema(num_perm: int) -> pa.Schema:
    """``snapshot``: the Common Crawl snapshot of the document (null for other sources), the unit of the
    ``snapshot`` near-dedup scope."""
    return pa.schema([("id", pa.string()), ("source", pa.string()), ("shingles", pa.int32()),
                      ("signature", pa.list_(pa.uint32(), num_perm)), ("snapshot", pa.string())])


def document_snapshots(meta: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The ``snapshot`` of each document's meta JSON (what the crawl reader recorded), else null."""
    out = []
    for m in meta.to_pylist():
        value = json.loads(m).get("snapshot") if m else None
        out.append(value if isinstance(value, str) and value else None)
    return pa.array(out, pa.string())


def _sub_batches(batch: pa.RecordBatch, max_chars: int) -> Iterator[pa.RecordBatch]:
    lengths = pc.utf8_length(batch.column("text")).to_numpy(zero_copy_only=False)
    start, chars = 0, 0
    for i, n in enumerate(lengths):
        if i > start and chars + n > max_chars:
            yield batch.slice(start, i - start)
            start, chars = i, 0
        chars += int(n)
    if start < batch.num_rows:
        yield batch.slice(start)


def part_signatures(batches: Iterable[pa.RecordBatch], params: MinHashParams) -> pa.Table:
    """The signature table of one part's documents, row for row (columns id, source, text, meta needed)."""
    schema = signature_schema(params.num_perm)
    tables = []
    for batch in batches:
        for sub in _sub_batches(batch, SIGNATURE_BATCH_CHARS):
            sig, counts = signatures(sub.column("text"), params)
            values = pa.FixedSizeListArray.from_arrays(pa.array(sig.reshape(-1), pa.uint32()), params.num_perm)
            tables.append(pa.Table.from_arrays(
                [sub.column("id"), sub.column("source"), pa.array(counts, pa.int32()), values,
                 document_snapshots(sub.column("meta"))], schema=schema))
    return pa.concat_tables(tables) if tables else schema.empty_table()


def signature_matrix(table: pa.Table | pa.RecordBatch, num_perm: int) -> np.ndarray:
    column = table.column("signature")
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    flat = [c.flatten().to_numpy(zero_copy_only=False) for c in chunks]
    return (np.concatenate(flat) if flat else np.empty(0, np.uint32)).reshape(-1, num_perm)
