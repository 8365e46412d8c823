"""Near-duplicate clusters: per-partition components, their deterministic merge, and the pipeline.

Flow (every step streams parts and writes atomically; no Dagster here, the assets wrap these):

1. ``update_signatures``: MinHash signatures per exact_dedup part under ``signatures/<source>/``,
   fingerprinted by the part's own fingerprint + MinHash settings + code; a current file is reused, so
   a new CommonCrawl snapshot computes only its own parts' signatures. Each part is one ``Executor.map`` task.
2. ``write_band_table``: documents get an *ordinal* (parts in source-priority order, then row); the
   band table is written as ``2**k`` partitions by band-hash prefix (``corpus.dedup.lsh``), with bands x
   rows chosen for the LSH's *candidate* threshold (``recipe.NEAR_DEDUP_CANDIDATE_THRESHOLD``, below the
   dedup threshold) and, in the ``snapshot`` scope, band hashes seeded by the document's snapshot
   (``scope_keys``), so no bucket, hence no cluster, spans two snapshots.
3. ``partition_edges``: one partition alone: candidate pairs per bucket in rounds
   (``lsh.verified_star_edges``). A pair the next round depends on (a bucket of 3 or more open rows) is
   verified there by the exact Jaccard of the two shingle sets (``PairVerifier``: texts re-read by
   ordinal, part by part, in bounded batches); only pairs at J >= the threshold are edges; connected
   components -> (doc, root) edges, every measured pair to ``pairs/<partition>.parquet``, and every other
   candidate, unverified, to ``candidates/<partition>.parquet``. Memory follows the partition size. Each
   partition is one ``Executor.map`` task (``all_partition_edges``).
4. ``verify_candidates``: the distinct deferred candidates of all partitions (DuckDB, spilling), less the
   pairs some partition measured already, each verified once, in groups ordered by the parts of their
   documents (a group reads the texts of few parts), one ``Executor.map`` task per group; the verified
   ones are edges too. So a pair colliding in bands of several partitions is measured once, and a pair
   that is a candidate only in a later partition (pg1661's truncated release and its second full
   edition, whose first partition closes the edition as the first's copy) is still found.
5. ``merge_removals``: union-find over all partitions' and groups' edge files, streamed in batches of
   ``EDGE_BATCH_ROWS`` (``stream_components``); in each component the document first by
   (``DEDUP_SOURCE_PRIORITY`` rank, id) is kept, the others removed. Components of a union of edge sets
   do not depend on how they were split or in which order they are read, so the kept set is the same
   for any partition count. Memory: one edge batch plus per distinct node (a document in some
   component) 8 B ordinal + 8 B root (+ 8 B while a batch is applied) and its id/source strings;
   nothing per edge, so more bands or partitions (more edges per document) cost no memory.

The cluster rule (LLaMA-1 / RedPajama): one document kept per connected component of *verified* edges.
An LSH collision alone never joins two documents, so no cluster forms through a chain of candidates
below the threshold (Marin issue 6854). A chain of verified near copies (A~B, B~C, J(A, C) below the
threshold) is one cluster: B and C are removed for A. Either way no kept pair that was verified at or
above the threshold remains: the two are in one component, and one component keeps one document.
A pair is verified when it shares a bucket in which one of the two is a round head when the other is
open, in any partition; a true pair missed there is still found through another of the bands (21 at 0.55).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections import OrderedDict
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpus import recipe
from corpus.dedup import lsh, minhash
from corpus.executors import Executor, ExecutionSummary, InProcessExecutor, WORKER_LOG
from corpus.storage import (TMP_MARK, Layout, Location, atomic_path, iter_batches, open_parquet, part_is_current,
                            remove_stale_temps, write_table_atomic)
from corpus.fingerprints import fingerprint, FINGERPRINT_KEY

EDGE_SCHEMA = pa.schema([("doc", pa.int64()), ("root", pa.int64())])
CANDIDATE_SCHEMA = pa.schema([("a", pa.int64()), ("b", pa.int64())])  # a < b: ordinals of a candidate pair
REMOVALS_SCHEMA = pa.schema([("id", pa.string()), ("source", pa.string()), ("kept_id", pa.string())])
MANIFEST = "manifest.json"
EDGE_BATCH_ROWS = 1 << 18  # (doc, root) rows the merge reads at a time; ~130 B of transient state per row: its only per-edge memory


def _code(*modules) -> str:
    h = hashlib.sha256()
    for m in modules:
        h.update(Path(m.__file__).read_bytes())
    return h.hexdigest()[:16]


# --- connected components ---------------------------------------------------------------------------

def connected_components(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct nodes of the edges, the smallest node of each one's component).

    Vectorised union-find: every round hooks each edge's larger root under the smaller one
    (``np.minimum.at``), then compresses paths by pointer jumping until every node points at its root.
    Parents only ever decrease, so it terminates, and the result depends on the edge *set* only.
    """
    if len(a) == 0:
        empty = np.empty(0, np.int64)
        return empty, empty
    nodes, inv = np.unique(np.concatenate([a, b]).astype(np.int64), return_inverse=True)
    u, v = inv[:len(a)], inv[len(a):]
    parent = np.arange(len(nodes))
    while True:
        ru, rv = parent[u], parent[v]
        differ = ru != rv
        if not differ.any():
            break
        ru, rv = ru[differ], rv[differ]
        low = np.minimum(ru, rv)
        np.minimum.at(parent, ru, low)
        np.minimum.at(parent, rv, low)
        parent = _compressed(parent)
    return nodes, nodes[parent]


def _edge_batches(edge_files: Sequence[Location], batch_rows: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for batch in iter_batches(edge_files, columns=["doc", "root"], batch_size=batch_rows):
        yield (batch.column(0).to_numpy().astype(np.int64, copy=False),
               batch.column(1).to_numpy().astype(np.int64, copy=False))


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    values = np.sort(values)  # sort-based: numpy's hash-based np.unique is many times slower on int64 ids
    keep = np.empty(len(values), bool)
    keep[:1] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def _distinct_nodes(edge_files: Sequence[Location], batch_rows: int) -> np.ndarray:
    """The sorted distinct endpoints. Each batch's own are buffered until they outnumber the nodes found
    so far, so a merge's sort is paid for by as many new values (at most 2x the nodes plus a batch held)."""
    nodes, pending, buffered = np.empty(0, np.int64), [], 0
    for a, b in _edge_batches(edge_files, batch_rows):
        pending.append(_sorted_unique(np.concatenate([a, b])))
        buffered += len(pending[-1])
        if buffered >= max(len(nodes), batch_rows):
            nodes, pending, buffered = _sorted_unique(np.concatenate([nodes, *pending])), [], 0
    return _sorted_unique(np.concatenate([nodes, *pending]))


def stream_components(edge_files: Sequence[Location], batch_rows: int = EDGE_BATCH_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """``connected_components`` of every edge in ``edge_files`` (Parquet, doc/root columns), holding
    one batch of edges at a time: two passes over the files.

    Pass 1 collects the sorted distinct nodes (``_distinct_nodes``). Pass 2 is a union-find over their
    positions whose roots are their components' smallest nodes: a batch's endpoints are mapped to their
    roots, the components of that small root graph (``connected_components``) hook each touched root under
    the smallest root of its merged component, and the endpoints point at it directly. The whole forest is
    compressed once per ``len(nodes)`` edges (and at the end), so its cost is amortised over the edges.
    """
    nodes = _distinct_nodes(edge_files, batch_rows)
    parent, since_compressed = np.arange(len(nodes)), 0
    for a, b in _edge_batches(edge_files, batch_rows):
        u, v = np.searchsorted(nodes, a), np.searchsorted(nodes, b)
        ru, rv = _roots(parent, u), _roots(parent, v)
        roots, merged = connected_components(ru, rv)
        parent[roots] = merged
        parent[u], parent[v] = parent[ru], parent[rv]
        since_compressed += len(u)
        if since_compressed >= len(nodes):
            parent, since_compressed = _compressed(parent), 0
    return nodes, nodes[_compressed(parent)]


def _roots(parent: np.ndarray, x: np.ndarray) -> np.ndarray:
    r = parent[x]
    while True:
        up = parent[r]
        if np.array_equal(up, r):
            return r
        r = up


def _compressed(parent: np.ndarray) -> np.ndarray:
    """Pointer jumping until every node points at its root."""
    while True:
        up = parent[parent]
        if np.array_equal(up, parent):
            return parent
        parent = up


def process_partition(table: pa.Table, verify: "PairVerifier | None" = None,
                      max_rounds: int = recipe.NEAR_DEDUP_MAX_ROUNDS) -> tuple[pa.Table, pa.Table]:
    """One band partition -> (doc, root) edges of its components (root: the smallest ordinal) and its
    deferred candidate pairs (``CANDIDATE_SCHEMA``). With a verifier, only verified pairs are edges and
    the pairs no later round depends on are deferred (``lsh.verified_star_edges``); without, every star
    edge is an edge and nothing is deferred."""
    keys, docs = table.column("key").to_numpy(), table.column("doc").to_numpy()
    if verify is None:
        (a, b), deferred = lsh.star_edges(keys, docs), (np.empty(0, np.int64), np.empty(0, np.int64))
    else:
        rounds = lsh.verified_star_edges(keys, docs, verify, max_rounds)
        (a, b), deferred = rounds.edges, rounds.deferred
    nodes, roots = connected_components(a, b)
    moved = nodes != roots
    return (pa.table([pa.array(nodes[moved]), pa.array(roots[moved])], schema=EDGE_SCHEMA),
            pa.table([pa.array(deferred[0]), pa.array(deferred[1])], schema=CANDIDATE_SCHEMA))


# --- the document index: ordinal -> part, id, source, text ---------------------------------------------

@dataclass(frozen=True)
class IndexedPart:
    source: str
    rank: int
    signatures: str  # relative to the local root (``Layout.root``)
    docs: str  # the exact_dedup part the signatures were computed from (row for row), relative to ``Layout.data``
    rows: int
    fingerprint: str


class DocIndex:
    """Ordinals: parts in the given order (source priority, then part name), rows in part order."""

    def __init__(self, layout: Layout, parts: Sequence[IndexedPart]):
        self.layout, self.parts = layout, list(parts)
        self.offsets = np.concatenate([[0], np.cumsum([p.rows for p in self.parts])]).astype(np.int64)
        self._ranks = np.array([p.rank for p in self.parts], np.int64)

    @property
    def size(self) -> int:
        return int(self.offsets[-1])

    def to_json(self) -> list[dict]:
        return [asdict(p) for p in self.parts]

    @classmethod
    def from_json(cls, layout: Layout, rows: list[dict]) -> "DocIndex":
        return cls(layout, [IndexedPart(**r) for r in rows])

    def part_of(self, ordinals: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.offsets, ordinals, side="right") - 1

    def ranks(self, ordinals: np.ndarray) -> np.ndarray:
        return self._ranks[self.part_of(ordinals)]

    def sources(self, ordinals: np.ndarray) -> list[str]:
        return [self.parts[i].source for i in self.part_of(ordinals)]

    def ids(self, ordinals: np.ndarray) -> np.ndarray:
        """The document ids of ``ordinals`` (any order) as Python strings."""
        ordinals = np.asarray(ordinals, np.int64)
        order = np.argsort(ordinals, kind="stable")
        out = np.empty(len(ordinals), object)
        out[order] = self.sorted_ids(ordinals[order]).to_pylist()
        return out

    def sorted_ids(self, ordinals: np.ndarray) -> pa.ChunkedArray:
        """The document ids of ascending ``ordinals``, kept in Arrow (a few bytes per id, not a Python
        object), reading only the id column of the parts concerned, one part at a time."""
        return self.signature_column(ordinals, "id")

    def _by_part(self, ordinals: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """(part, its row numbers) for ascending ``ordinals``, part by part."""
        owner = self.part_of(ordinals)
        bounds = np.flatnonzero(np.diff(owner)) + 1
        for sel in np.split(np.arange(len(ordinals)), bounds) if len(ordinals) else ():
            p = int(owner[sel[0]])
            yield p, ordinals[sel] - self.offsets[p]

    def signature_column(self, ordinals: np.ndarray, column: str) -> pa.ChunkedArray:
        """``column`` of the signature table (id, shingles, ...) for ascending ``ordinals``."""
        chunks = []
        for p, rows in self._by_part(ordinals):
            values = pq.read_table(self.layout.root / self.parts[p].signatures, columns=[column]).column(column)
            chunks.append(values.take(pa.array(rows)).combine_chunks())
        return pa.chunked_array(chunks, minhash.signature_schema(1).field(column).type)

    def texts(self, ordinals: np.ndarray) -> pa.ChunkedArray:
        """The texts of ascending ``ordinals``, re-read from their exact_dedup parts: part by part, only
        the row groups that hold them."""
        chunks = []
        for p, rows in self._by_part(ordinals):
            pf = open_parquet(self.layout.data / self.parts[p].docs)
            starts = np.cumsum([0] + [pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups)])
            if len(rows) and rows[-1] >= starts[-1]:
                raise IndexError(f"row {rows[-1]} beyond the {starts[-1]} rows of {self.parts[p].docs}")
            group = np.searchsorted(starts, rows, side="right") - 1
            for g in np.unique(group):
                text = pf.read_row_group(int(g), columns=["text"]).column("text")
                chunks.append(text.take(pa.array(rows[group == g] - starts[g])).combine_chunks())
        return pa.chunked_array(chunks) if chunks else pa.chunked_array([], pa.string())


PAIRS_SCHEMA = pa.schema([("a", pa.int64()), ("b", pa.int64()), ("jaccard", pa.float64()), ("duplicate", pa.bool_())])


class PairVerifier:
    """Exact Jaccard of the shingle sets of candidate pairs that touch a source in ``verify_sources``;
    such a pair is kept when J >= the larger of the two sources' thresholds. Other pairs pass as the
    LSH found them.

    Streaming: the pairs are measured in batches whose distinct documents hold at most ``batch_shingles``
    shingles (their signature tables' counts); a batch's texts are re-read by ordinal, part by part
    (``DocIndex.texts``), and shingled at once (``minhash.shingle_sets``). Every pair checked is recorded
    (``take_measured``: the audit trail of one band partition or group of candidates). A pair some later
    round depends on is checked in each partition that proposes it so; a verifier serving several
    partitions in one process (``near_duplicates``) remembers the last ``memo_pairs`` Jaccards, so it
    measures such a pair once (bounded memory). All other pairs are checked once (``verify_candidates``)."""

    def __init__(self, index: DocIndex, ngram: int, verify_sources: Iterable[str], thresholds: dict[str, float],
                 default_threshold: float, batch_shingles: int = recipe.NEAR_DEDUP_VERIFY_BATCH_SHINGLES,
                 memo_pairs: int = recipe.NEAR_DEDUP_VERIFY_MEMO_PAIRS):
        self.index, self.ngram, self.batch_shingles, self.memo_pairs = index, ngram, batch_shingles, memo_pairs
        sources = [p.source for p in index.parts]
        self._verified = np.array([s in frozenset(verify_sources) for s in sources], bool)
        self._threshold = np.array([thresholds.get(s, default_threshold) for s in sources], np.float64)
        self.settings = dict(verify_sources=sorted(set(verify_sources)), thresholds=dict(sorted(thresholds.items())),
                             default_threshold=default_threshold, ngram=ngram)  # what the edges depend on
        self.measured: dict[tuple[int, int], float] = {}  # the pairs checked since the last take_measured
        self._memo: OrderedDict[tuple[int, int], float] = OrderedDict()  # the last memo_pairs Jaccards measured

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        keep = np.ones(len(a), bool)
        if len(a) == 0:
            return keep
        check = np.flatnonzero(self._verified[self.index.part_of(a)] | self._verified[self.index.part_of(b)])
        pairs = list(zip(a[check].tolist(), b[check].tolist()))
        for p in dict.fromkeys(pairs):
            if p in self._memo:
                self.measured[p] = self._memo[p]
        self._measure([p for p in dict.fromkeys(pairs) if p not in self.measured])
        jaccard = np.array([self.measured[p] for p in pairs], np.float64)
        keep[check] = jaccard >= self._need(a[check], b[check])
        return keep

    def _need(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The threshold of each pair: the larger of its two sources' ones."""
        return np.maximum(self._threshold[self.index.part_of(a)], self._threshold[self.index.part_of(b)])

    def _measure(self, pairs: list[tuple[int, int]]) -> None:
        if not pairs:
            return
        docs = np.unique(np.array(pairs, np.int64).reshape(-1))
        counts = dict(zip(docs.tolist(), self.index.signature_column(docs, "shingles").to_numpy().tolist()))
        batch, members, size = [], set(), 0
        for pair in pairs:
            new = [d for d in pair if d not in members]
            cost = sum(counts[d] for d in new)
            if batch and size + cost > self.batch_shingles:
                self._measure_batch(batch)
                batch, members, size = [], set(), 0
                new, cost = list(pair), counts[pair[0]] + counts[pair[1]]
            batch.append(pair)
            members.update(new)
            size += cost
        self._measure_batch(batch)

    def _measure_batch(self, pairs: list[tuple[int, int]]) -> None:
        docs = np.unique(np.array(pairs, np.int64).reshape(-1))
        sets = minhash.shingle_sets(self.index.texts(docs), self.ngram)
        at = {d: i for i, d in enumerate(docs.tolist())}
        for x, y in pairs:
            self.measured[(x, y)] = self._memo[(x, y)] = minhash.jaccard(sets[at[x]], sets[at[y]])
        while len(self._memo) > self.memo_pairs:
            self._memo.popitem(last=False)

    def take_measured(self) -> pa.Table:
        """(a, b, jaccard, duplicate) of every pair measured since the last call, sorted; ``duplicate``:
        J >= the pair's threshold (the pair is an edge). Clears the record."""
        pairs = np.array(sorted(self.measured), np.int64).reshape(-1, 2)
        jaccard = np.array([self.measured[(x, y)] for x, y in pairs.tolist()], np.float64)
        self.measured = {}
        duplicate = jaccard >= self._need(pairs[:, 0], pairs[:, 1])
        return pa.table([pa.array(pairs[:, 0]), pa.array(pairs[:, 1]), pa.array(jaccard), pa.array(duplicate)],
                        schema=PAIRS_SCHEMA)


# --- the pipeline steps ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class BandTableSettings:
    """The band table's settings (``lsh_band_table``'s run config is built from them): the dedup
    threshold (verified exact Jaccard), the LSH's candidate threshold (bands x rows are chosen for it),
    the scope (``recipe.NEAR_DEDUP_SCOPES``) and the band-hash-prefix partition count."""

    threshold: float = recipe.MINHASH_THRESHOLD
    candidate_threshold: float = recipe.NEAR_DEDUP_CANDIDATE_THRESHOLD
    scope: str = recipe.NEAR_DEDUP_SCOPE
    num_partitions: int = recipe.NEAR_DEDUP_BAND_PARTITIONS

    def params(self, signatures: minhash.MinHashParams) -> minhash.MinHashParams:
        """The LSH parameters over signatures computed with ``signatures``' permutations and n-gram."""
        return minhash.MinHashParams.for_threshold(self.threshold, signatures.num_perm, signatures.ngram,
                                                   self.candidate_threshold)


@dataclass(frozen=True)
class SignatureJob:
    """One exact_dedup part's signature file to write (paths and settings only: a task any worker can run)."""

    part: Location
    out: Path
    params: minhash.MinHashParams
    fingerprint: str


def write_signatures(job: SignatureJob) -> Path:
    table = minhash.part_signatures(iter_batches([job.part], columns=["id", "source", "text", "meta"],
                                                 batch_size=minhash.SIGNATURE_BATCH_ROWS), job.params)
    write_table_atomic(job.out, table, {FINGERPRINT_KEY: job.fingerprint.encode()})
    return job.out


def update_signatures(layout: Layout, parts: Sequence[tuple[str, int, Location, str]], params: minhash.MinHashParams,
                      folder: Path, executor: Executor | None = None, log=WORKER_LOG,
                      summary: ExecutionSummary | None = None) -> tuple[DocIndex, list[str]]:
    """Signatures of every (source, rank, exact_dedup part, part fingerprint), reusing current files; the
    others computed as one ``executor`` task each (default: in this process).

    Returns the index (in the given order) and the parts whose signatures were computed this time."""
    settings = dict(ngram=params.ngram, num_perm=params.num_perm, seed=params.seed)
    code = _code(minhash)
    remove_stale_temps(folder)
    outs = [folder / source / path.name for source, _, path, _ in parts]
    fps = [fingerprint(part_fp, settings, code) for *_, part_fp in parts]
    todo = [SignatureJob(path, out, params, fp) for (_, _, path, _), out, fp in zip(parts, outs, fps)
            if not part_is_current(out, fp)]
    list((executor or InProcessExecutor()).map(write_signatures, todo, log, "near_dedup signatures", summary))
    indexed = [IndexedPart(source, rank, out.relative_to(layout.root).as_posix(), path.relative_to(layout.data).as_posix(),
                           pq.ParquetFile(out).metadata.num_rows, fp)
               for (source, rank, path, _), out, fp in zip(parts, outs, fps)]
    wanted = set(outs)
    for stale in (p for p in folder.rglob("*.parquet") if p not in wanted) if folder.exists() else ():
        stale.unlink()
    return DocIndex(layout, indexed), [f"{job.out.parent.name}/{job.part.name}" for job in todo]


def scope_keys(snapshots: pa.Array | pa.ChunkedArray, scope: str) -> np.ndarray | None:
    """The band-hash seed of each document for a near-dedup ``scope`` (``recipe.NEAR_DEDUP_SCOPES``):
    none for ``global``; for ``snapshot`` a hash of the document's snapshot (0 without one: the other
    sources and crawl pages without a snapshot are one group), so two snapshots never share a bucket."""
    if scope == "global":
        return None
    encoded = pc.dictionary_encode(snapshots).combine_chunks() if isinstance(snapshots, pa.ChunkedArray) \
        else pc.dictionary_encode(snapshots)
    names = encoded.dictionary.to_pylist()
    seeds = np.array([int.from_bytes(hashlib.sha256(n.encode()).digest()[:8], "little") for n in names] + [0], np.uint64)
    codes = encoded.indices.fill_null(len(names)).to_numpy(zero_copy_only=False)
    return seeds[codes]


def write_band_table(index: DocIndex, params: minhash.MinHashParams, folder: Path, num_partitions: int,
                     scope: str = recipe.NEAR_DEDUP_SCOPE) -> dict:
    """The band table's partitions and its manifest (index, params, scope, partition names, fingerprint).

    Skipped when the manifest already describes the same signatures, parameters, scope and partition count."""
    if scope not in recipe.NEAR_DEDUP_SCOPES:
        raise ValueError(f"near-dedup scope must be one of {recipe.NEAR_DEDUP_SCOPES}, not {scope!r}")
    names = lsh.partition_names(num_partitions)
    fp = fingerprint([p.fingerprint for p in index.parts], params.as_dict(), num_partitions, scope,
                     _code(lsh, minhash, sys.modules[__name__]))
    manifest_path = folder / MANIFEST
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        if old.get("fingerprint") == fp and all((folder / f"{n}.parquet").exists() for n in names):
            return old
    remove_stale_temps(folder)
    for p in folder.glob("*.parquet") if folder.exists() else ():
        p.unlink()
    with lsh.band_table_writer(folder, num_partitions, {"corpus.fingerprint": fp}) as writer:
        for i, part in enumerate(index.parts):
            offset = int(index.offsets[i])
            for batch in iter_batches([index.layout.root / part.signatures],
                                      columns=["shingles", "signature", "snapshot"], batch_size=16_384):
                sig = minhash.signature_matrix(batch, params.num_perm)
                has = batch.column("shingles").to_numpy(zero_copy_only=False) > 0  # no words: never a duplicate
                rows = np.flatnonzero(has)
                seeds = scope_keys(batch.column("snapshot"), scope)
                start = offset
                offset += batch.num_rows
                writer.add(lsh.band_keys(sig[rows], params.bands, params.rows, None if seeds is None else seeds[rows]),
                           start + rows)
    manifest = dict(fingerprint=fp, params=params.as_dict(), scope=scope, num_partitions=num_partitions, partitions=names,
                    rows={n: int(r) for n, r in zip(names, writer.rows)}, index=index.to_json())
    with atomic_path(manifest_path) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def read_manifest(folder: Path) -> dict:
    return json.loads((folder / MANIFEST).read_text())


def make_verifier(layout: Layout, manifest: dict, verify_sources: Iterable[str], thresholds: dict[str, float]) -> PairVerifier | None:
    verify_sources = sorted(verify_sources)
    if not verify_sources:
        return None
    params = manifest["params"]
    return PairVerifier(DocIndex.from_json(layout, manifest["index"]), params["ngram"], verify_sources, thresholds,
                        params["threshold"])


def pairs_path(edges: Path, name: str) -> Path:
    """The measured pairs of a band partition (``PAIRS_SCHEMA``), next to its edges: the audit trail."""
    return edges.parent / "pairs" / f"{name}.parquet"


def candidates_path(edges: Path, name: str) -> Path:
    """The deferred candidate pairs of a band partition (``CANDIDATE_SCHEMA``), for ``verify_candidates``."""
    return edges.parent / "candidates" / f"{name}.parquet"


def pair_summary(pair_files: Sequence[Path], first: int, memory_limit: str = "1GB") -> tuple[dict, pa.Table]:
    """Counts of the distinct measured pairs of ``pair_files`` (a pair a later round depends on in several
    partitions is in several files), of the measurements, and the ``first`` pairs by ordinals (a, b,
    jaccard, duplicate). Grouped in DuckDB, which spills to disk: memory does not grow with the pairs."""
    con = duckdb.connect()
    con.sql(f"SET memory_limit='{memory_limit}'")
    con.read_parquet([str(f) for f in pair_files]).create_view("pairs")
    con.sql("CREATE TEMP VIEW distinct_pairs AS SELECT a, b, max(jaccard) AS jaccard, bool_or(duplicate) "
            "AS duplicate FROM pairs GROUP BY a, b")
    total, dup = con.sql("SELECT count(*), count(*) FILTER (WHERE duplicate) FROM distinct_pairs").fetchall()[0]
    measured = con.sql("SELECT count(*) FROM pairs").fetchall()[0][0]
    head = con.sql(f"SELECT * FROM distinct_pairs ORDER BY a, b LIMIT {int(first)}").to_arrow_table()
    con.close()
    counts = dict(pairs_verified=total, pairs_duplicate=dup, pairs_rejected=total - dup, pairs_measured=measured)
    return counts, pa.table(head).cast(PAIRS_SCHEMA) if head.num_rows else PAIRS_SCHEMA.empty_table()


def partition_edges(bands: Path, edges: Path, name: str, manifest: dict,
                    verifier: PairVerifier | None) -> tuple[Path, bool]:
    """The file of one band partition's component edges, and whether it was computed now: reused when
    computed from the same band table and verification settings (that is how the partitioned scale-out
    asset feeds the merge). With a verifier, every pair it measured goes to ``pairs_path`` and its
    deferred candidates to ``candidates_path``. The merge streams the files; no caller holds every
    partition's edges."""
    out, pairs, deferred = edges / f"{name}.parquet", pairs_path(edges, name), candidates_path(edges, name)
    fp = fingerprint(manifest["fingerprint"], name, verifier.settings if verifier else None,
                     _code(lsh, minhash, sys.modules[__name__]))
    if part_is_current(out, fp) and (verifier is None or (part_is_current(pairs, fp) and part_is_current(deferred, fp))):
        return out, False
    table, candidates = process_partition(lsh.read_partition(bands / f"{name}.parquet"), verifier)
    if verifier is not None:
        write_table_atomic(pairs, verifier.take_measured(), {FINGERPRINT_KEY: fp.encode()})
        write_table_atomic(deferred, candidates, {FINGERPRINT_KEY: fp.encode()})
    write_table_atomic(out, table, {FINGERPRINT_KEY: fp.encode()})
    return out, True


def all_partition_edges(bands: Path, edges: Path, names: Sequence[str], manifest: dict, verifier: PairVerifier | None,
                        executor: Executor | None = None, log=WORKER_LOG,
                        summary: ExecutionSummary | None = None) -> list[tuple[Path, bool]]:
    """``partition_edges`` of each partition of ``names`` as one ``executor`` task each (default: in this
    process, where one verifier's memo serves them all), in the order of ``names``."""
    one = partial(partition_edges, bands, edges, manifest=manifest, verifier=verifier)
    return list((executor or InProcessExecutor()).map(one, list(names), log, "near_dedup band partitions", summary))


@dataclass(frozen=True)
class CandidateGroup:
    """One task of ``verify_candidates``: the file of its pairs, and where its edges and measured pairs go."""

    pairs: Path
    edges: Path
    measured: Path
    fingerprint: str

    @classmethod
    def numbered(cls, folder: Path, i: int, fp: str) -> "CandidateGroup":
        name = f"{i:06d}.parquet"
        return cls(folder / "groups" / name, folder / "edges" / name, folder / "pairs" / name, fp)


def verify_group(verifier: PairVerifier, group: CandidateGroup) -> CandidateGroup:
    """Verifies a group's pairs, once each: the kept ones are (doc, root) edges, every measured one is
    recorded (``PAIRS_SCHEMA``)."""
    table = pq.read_table(group.pairs, schema=CANDIDATE_SCHEMA)
    a, b = table.column("a").to_numpy(), table.column("b").to_numpy()
    keep = verifier(a, b)
    meta = {FINGERPRINT_KEY: group.fingerprint.encode()}
    write_table_atomic(group.measured, verifier.take_measured(), meta)
    write_table_atomic(group.edges, pa.table([pa.array(b[keep]), pa.array(a[keep])], schema=EDGE_SCHEMA), meta)
    return group


def write_candidate_groups(edges: Path, names: Sequence[str], index: DocIndex, folder: Path, fp: str,
                           group_pairs: int, memory_limit: str) -> list[CandidateGroup]:
    """The distinct deferred candidates of the partitions ``names`` that no partition measured, as group
    files of ``group_pairs`` pairs, ordered by (part of a, part of b, a, b): a group reads the texts of few
    parts. Found in DuckDB, which spills to disk; this process holds one group at a time."""
    con = duckdb.connect()
    con.sql(f"SET memory_limit='{memory_limit}'")
    con.read_parquet([str(candidates_path(edges, n)) for n in names]).create_view("candidates")
    con.read_parquet([str(pairs_path(edges, n)) for n in names]).create_view("measured")
    con.register("parts", pa.table({"part": np.arange(len(index.parts)), "lo": index.offsets[:-1], "hi": index.offsets[1:]}))
    reader = con.sql(
        "WITH todo AS (SELECT DISTINCT a, b FROM candidates ANTI JOIN (SELECT DISTINCT a, b FROM measured) m USING (a, b)) "
        "SELECT todo.a, todo.b FROM todo JOIN parts pa ON todo.a >= pa.lo AND todo.a < pa.hi "
        "JOIN parts pb ON todo.b >= pb.lo AND todo.b < pb.hi ORDER BY pa.part, pb.part, todo.a, todo.b"
    ).to_arrow_reader(group_pairs)
    groups, pending = [], CANDIDATE_SCHEMA.empty_table()

    def write(table: pa.Table) -> None:
        groups.append(CandidateGroup.numbered(folder, len(groups), fp))
        write_table_atomic(groups[-1].pairs, table.cast(CANDIDATE_SCHEMA), {FINGERPRINT_KEY: fp.encode()})

    for batch in reader:
        pending = pa.concat_tables([pending, pa.Table.from_batches([batch]).cast(CANDIDATE_SCHEMA)])
        while pending.num_rows >= group_pairs:
            write(pending.slice(0, group_pairs))
            pending = pending.slice(group_pairs)
    if pending.num_rows:
        write(pending)
    con.close()
    return groups


def verify_candidates(edges: Path, names: Sequence[str], manifest: dict, verifier: PairVerifier,
                      executor: Executor | None = None, log=WORKER_LOG, summary: ExecutionSummary | None = None,
                      group_pairs: int = recipe.NEAR_DEDUP_VERIFY_GROUP_PAIRS,
                      memory_limit: str = "1GB") -> list[CandidateGroup]:
    """Every deferred candidate of the partitions ``names`` verified once (``write_candidate_groups``),
    one ``executor`` task per group (``verify_group``), in group order; under ``edges.parent / "verify"``.
    Reused when done for the same band table, partitions, verification settings and group size."""
    folder = edges.parent / "verify"
    fp = fingerprint(manifest["fingerprint"], list(names), verifier.settings, group_pairs,
                     _code(lsh, minhash, sys.modules[__name__]))
    if (folder / MANIFEST).exists():
        old = json.loads((folder / MANIFEST).read_text())
        groups = [CandidateGroup.numbered(folder, i, fp) for i in range(old["groups"])]
        if old["fingerprint"] == fp and all(part_is_current(g.edges, fp) and part_is_current(g.measured, fp)
                                            for g in groups):
            return groups
    shutil.rmtree(folder, ignore_errors=True)
    groups = write_candidate_groups(edges, names, verifier.index, folder, fp, group_pairs, memory_limit)
    done = list((executor or InProcessExecutor()).map(partial(verify_group, verifier), groups, log,
                                                      "near_dedup candidate verification", summary))
    with atomic_path(folder / MANIFEST) as tmp:
        tmp.write_text(json.dumps(dict(fingerprint=fp, groups=len(done)), indent=1, sort_keys=True))
    return done


def clear_stale_edges(edges: Path, names: Iterable[str]) -> None:
    """Removes the edge, pair and candidate files of partitions not in ``names`` (another partition
    count) and temps."""
    keep = {f"{n}.parquet" for n in names}
    for folder in (edges, pairs_path(edges, "x").parent, candidates_path(edges, "x").parent):
        for p in folder.glob("*") if folder.exists() else ():
            if p.name not in keep or TMP_MARK in p.name:
                p.unlink()


def merge_removals(edge_files: Sequence[Location], index: DocIndex, batch_rows: int = EDGE_BATCH_ROWS) -> pa.Table:
    """(id, source, kept_id) of every document in a component of the edge files' union but not its
    first by (rank, id); memory per distinct node, not per edge (``stream_components``)."""
    return component_removals(*stream_components(edge_files, batch_rows), index)


def component_removals(nodes: np.ndarray, roots: np.ndarray, index: DocIndex) -> pa.Table:
    """(id, source, kept_id) of every node but its component's first by (rank, id), sorted by id.

    The ids stay one Arrow column (read part by part); the orderings are computed on integers (each
    node's place in id order), so only the output columns copy strings."""
    if len(nodes) == 0:
        return REMOVALS_SCHEMA.empty_table()
    ids = index.sorted_ids(nodes)
    by_id = np.empty(len(nodes), np.int64)
    by_id[pc.sort_indices(ids).to_numpy()] = np.arange(len(nodes))
    order = np.lexsort((by_id, index.ranks(nodes), roots))  # by root, then rank, then id
    root = roots[order]
    first = np.concatenate([[True], root[1:] != root[:-1]])
    head = order[np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))]
    removed, kept = order[~first], head[~first]
    by_removed_id = np.argsort(by_id[removed])
    removed, kept = removed[by_removed_id], kept[by_removed_id]
    sources = pa.array([p.source for p in index.parts], pa.string()).take(pa.array(index.part_of(nodes[removed])))
    return pa.table([ids.take(pa.array(removed)), sources, ids.take(pa.array(kept))], schema=REMOVALS_SCHEMA)


def write_index(folder: Path, index: DocIndex, params: minhash.MinHashParams) -> None:
    """The signatures' manifest: ordinal order of the parts and the MinHash settings they used."""
    with atomic_path(folder / MANIFEST) as tmp:
        tmp.write_text(json.dumps(dict(params=params.as_dict(), index=index.to_json()), indent=1, sort_keys=True))


def read_index(layout: Layout, folder: Path) -> tuple[DocIndex, minhash.MinHashParams]:
    data = json.loads((folder / MANIFEST).read_text())
    return DocIndex.from_json(layout, data["index"]), minhash.MinHashParams(**data["params"])
