"""The LSH band table, partitioned by band-hash prefix, and the candidate edges of one partition.

Each document contributes one row per band: (64-bit hash of the band's ``rows`` signature values,
seeded by the band number; the document's ordinal). The rows go to ``2**k`` Parquet files by the top
``k`` bits of that hash, so every bucket (all rows sharing a band hash) lies in exactly one partition:
a partition is processed alone, in memory proportional to its own size, on any machine.

In a partition, the rows are sorted by (hash, ordinal); each bucket of k documents gives k-1 *star*
edges to its smallest ordinal (not k^2 pairs), or, verified, the rounds of ``verified_star_edges``
(which verify here only the pairs a later round depends on, and defer the others).
``corpus.dedup.clusters`` turns them into components.
"""
from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from corpus.dedup.minhash import _START, mix64
from corpus.storage import PARQUET_OPTIONS, TMP_MARK

BAND_SCHEMA = pa.schema([("key", pa.uint64()), ("doc", pa.int64())])


def partition_bits(num_partitions: int) -> int:
    bits = int(num_partitions).bit_length() - 1
    if num_partitions < 1 or 1 << bits != num_partitions or bits > 16:
        raise ValueError(f"the band table partition count must be a power of two <= 65536, not {num_partitions}")
    return bits


def partition_names(num_partitions: int) -> list[str]:
    """Partition keys: the band-hash prefix in hex (``0``..``f`` for 16, ``00``..``3f`` for 64)."""
    width = max(1, (partition_bits(num_partitions) + 3) // 4)
    return [f"{i:0{width}x}" for i in range(num_partitions)]


def band_keys(sig: np.ndarray, bands: int, rows: int, scope: np.ndarray | None = None) -> np.ndarray:
    """(documents, bands) uint64: a hash of each band's ``rows`` values, seeded by the band number and,
    when given, each document's ``scope`` (uint64): documents of two scopes never share a bucket."""
    keys = np.empty((sig.shape[0], bands), np.uint64)
    for j in range(bands):
        h = mix64(np.full(sig.shape[0], _START, np.uint64) ^ np.uint64(j + 1))
        if scope is not None:
            h = mix64(h ^ scope)
        for c in range(j * rows, (j + 1) * rows):
            h = mix64(h ^ sig[:, c].astype(np.uint64))
        keys[:, j] = h
    return keys


def partition_of(keys: np.ndarray, num_partitions: int) -> np.ndarray:
    bits = partition_bits(num_partitions)
    if bits == 0:
        return np.zeros(keys.shape, np.int64)
    return (keys >> np.uint64(64 - bits)).astype(np.int64)


class BandTableWriter:
    """Writes the band table's partitions (one Parquet file each) to temp names; renamed on success.

    Rows are buffered until ``buffer_rows`` in all, then written as one row group per partition: a
    write per (batch, partition) would make many tiny row groups and cost more than the hashing."""

    def __init__(self, folder: Path, num_partitions: int, metadata: dict[str, str] | None = None,
                 buffer_rows: int = 1 << 21):
        self.folder, self.num_partitions, self.buffer_rows = folder, num_partitions, buffer_rows
        self.names = partition_names(num_partitions)
        self.rows = np.zeros(num_partitions, np.int64)
        schema = BAND_SCHEMA.with_metadata({k.encode(): v.encode() for k, v in (metadata or {}).items()})
        folder.mkdir(parents=True, exist_ok=True)
        self._tmp = [folder / f"{n}.parquet{TMP_MARK}{uuid.uuid4().hex[:8]}" for n in self.names]
        self._writers = [pq.ParquetWriter(t, schema, **PARQUET_OPTIONS) for t in self._tmp]
        self._keys: list[np.ndarray] = []
        self._docs: list[np.ndarray] = []

    def add(self, keys: np.ndarray, ordinals: np.ndarray) -> None:
        """``keys``: (documents, bands) band hashes of the documents with ``ordinals``."""
        self._keys.append(keys.reshape(-1))
        self._docs.append(np.repeat(ordinals.astype(np.int64), keys.shape[1]))
        if sum(len(k) for k in self._keys) >= self.buffer_rows:
            self._flush()

    def _flush(self) -> None:
        if not self._keys:
            return
        flat, docs = np.concatenate(self._keys), np.concatenate(self._docs)
        self._keys, self._docs = [], []
        part = partition_of(flat, self.num_partitions)
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(self.num_partitions + 1))
        for p in range(self.num_partitions):
            sel = order[bounds[p]:bounds[p + 1]]
            if len(sel):
                self._writers[p].write_table(pa.table([pa.array(flat[sel]), pa.array(docs[sel])], schema=BAND_SCHEMA))
                self.rows[p] += len(sel)

    def close(self, ok: bool) -> None:
        if ok:
            self._flush()
        for w in self._writers:
            w.close()
        for tmp, name in zip(self._tmp, self.names):
            if ok:
                os.replace(tmp, self.folder / f"{name}.parquet")
            else:
                tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def band_table_writer(folder: Path, num_partitions: int, metadata: dict[str, str] | None = None) -> Iterator[BandTableWriter]:
    writer = BandTableWriter(folder, num_partitions, metadata)
    try:
        yield writer
    except BaseException:
        writer.close(ok=False)
        raise
    writer.close(ok=True)


def star_edges(keys: np.ndarray, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs of a band table slice, unverified: each bucket's members joined to its smallest
    ordinal (one round of ``verified_star_edges``: all of its pairs are deferred), each pair once, sorted."""
    return verified_star_edges(keys, docs, lambda a, b: np.ones(len(a), bool), max_rounds=1).deferred


@dataclass(frozen=True)
class StarRounds:
    """What ``verified_star_edges`` found: ``edges`` (a, b) verified in the rounds, and the ``deferred``
    candidate pairs (a, b), each once, sorted: left unverified because no later round depends on them."""

    edges: tuple[np.ndarray, np.ndarray]
    deferred: tuple[np.ndarray, np.ndarray]


def verified_star_edges(keys: np.ndarray, docs: np.ndarray, verify, max_rounds: int) -> StarRounds:
    """The (head, member) candidate pairs of a band table slice, in rounds over each bucket.

    A round joins every open member of a bucket to the bucket's smallest open ordinal, its head. A kept
    pair is an edge and closes its member, the head closes, the others stay open for the next round. So the
    heads of a bucket are pairwise rejected: a member is verified against every head before its own, and
    one bad bucket minimum (a false candidate) does not hide the true pairs behind it. At most
    ``max_rounds`` rounds (``recipe.NEAR_DEDUP_MAX_ROUNDS``).

    Which pairs the next round proposes depends on this round's results only in buckets of 3 or more
    open rows: a pair in such a bucket (in any of its buckets, in a round before the last) goes to
    ``verify(a, b) -> keep mask`` here, all of the round's at once. Every other pair is *deferred*: its
    result changes no later candidate (its buckets are left with at most one open row), so the caller
    verifies it once, globally, however many partitions propose it (``clusters.verify_candidates``)."""
    order = np.lexsort((docs, keys))
    k, d = keys[order], docs[order]
    distinct = np.ones(len(k), bool)
    distinct[1:] = (k[1:] != k[:-1]) | (d[1:] != d[:-1])
    k, d = k[distinct], d[distinct]
    found_a, found_b, later_a, later_b = [], [], [], []
    for round_no in range(max_rounds):
        new = np.ones(len(k), bool)
        new[1:] = k[1:] != k[:-1]
        members = np.flatnonzero(~new)
        if len(members) == 0:
            break
        starts = np.flatnonzero(new)
        sizes = np.diff(np.append(starts, len(k)))[np.cumsum(new) - 1]  # open rows of each row's bucket
        head = d[np.maximum.accumulate(np.where(new, np.arange(len(k)), 0))]
        a, b = head[members], d[members]
        pairs, inverse = np.unique(np.stack([a, b], axis=1), axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        needed = np.zeros(len(pairs), bool)
        if round_no < max_rounds - 1:
            needed[inverse[sizes[members] > 2]] = True
        matched = np.zeros(len(pairs), bool)
        check = np.flatnonzero(needed)
        matched[check] = np.asarray(verify(pairs[check, 0], pairs[check, 1]), bool)
        later_a.append(pairs[~needed, 0])
        later_b.append(pairs[~needed, 1])
        found_a.append(pairs[matched, 0])
        found_b.append(pairs[matched, 1])
        stay = needed[inverse] & ~matched[inverse]
        k, d = k[members[stay]], d[members[stay]]
    return StarRounds(_concat(found_a, found_b, unique=False), _concat(later_a, later_b, unique=True))


def _concat(a: list[np.ndarray], b: list[np.ndarray], unique: bool) -> tuple[np.ndarray, np.ndarray]:
    if not a:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    a, b = np.concatenate(a).astype(np.int64, copy=False), np.concatenate(b).astype(np.int64, copy=False)
    if unique and len(a):
        pairs = np.unique(np.stack([a, b], axis=1), axis=0)
        a, b = pairs[:, 0], pairs[:, 1]
    return a, b


def read_partition(path: Path) -> pa.Table:
    return pq.read_table(path, schema=BAND_SCHEMA)
