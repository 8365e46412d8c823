"""Near-duplicate clusters: per-partition components, their deterministic merge, and the pipeline.

Flow (every step streams parts and writes atomically; no Dagster here, the assets wrap these):

1. ``update_signatures``: MinHash signatures per exact_dedup part under ``signatures/<source>/``,
   fingerprinted by the part's own fingerprint + MinHash settings + code; a current file is reused, so
   a new CommonCrawl snapshot computes only its own parts' signatures.
2. ``write_band_table``: documents get an *ordinal* (parts in source-priority order, then row); the
   band table is written as ``2**k`` partitions by band-hash prefix (``corpus.dedup.lsh``).
3. ``partition_edges``: one partition alone: star edges per bucket, optional exact-Jaccard check
   (``PairVerifier``), connected components -> (doc, root) edges. Memory follows the partition size.
4. ``merge_removals``: union-find over all partitions' edge files, streamed in batches of
   ``EDGE_BATCH_ROWS`` (``stream_components``); in each component the document first by
   (``DEDUP_SOURCE_PRIORITY`` rank, id) is kept, the others removed. Components of a union of edge sets
   do not depend on how they were split or in which order they are read, so the kept set is the same
   for any partition count. Memory: one edge batch plus per distinct node (a document in some
   component) 8 B ordinal + 8 B root (+ 8 B while a batch is applied) and its id/source strings;
   nothing per edge, so more bands or partitions (more edges per document) cost no memory.

The verification checks a star edge (member, bucket minimum); a pair of members that are near copies of
each other but not of the bucket's minimum is then found only through another band (a documented
limitation of star edges; with 9 bands a true pair at J >= 0.9 shares several buckets).
"""
from __future__ import annotations

import hashlib
import json
import sys
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpus.dedup import lsh, minhash
from corpus.storage import (FINGERPRINT_KEY, TMP_MARK, Layout, Location, atomic_path, fingerprint, iter_batches,
                            open_parquet, part_is_current, remove_stale_temps, write_table_atomic)

EDGE_SCHEMA = pa.schema([("doc", pa.int64()), ("root", pa.int64())])
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


def process_partition(table: pa.Table, verify=None) -> pa.Table:
    """One band partition -> (doc, root) edges of its components (root: the smallest ordinal)."""
    a, b = lsh.star_edges(table.column("key").to_numpy(), table.column("doc").to_numpy())
    if verify is not None and len(a):
        keep = verify(a, b)
        a, b = a[keep], b[keep]
    nodes, roots = connected_components(a, b)
    moved = nodes != roots
    return pa.table([pa.array(nodes[moved]), pa.array(roots[moved])], schema=EDGE_SCHEMA)


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
        owner = self.part_of(ordinals)
        bounds = np.flatnonzero(np.diff(owner)) + 1
        chunks = []
        for sel in np.split(np.arange(len(ordinals)), bounds) if len(ordinals) else ():
            p = int(owner[sel[0]])
            ids = pq.read_table(self.layout.root / self.parts[p].signatures, columns=["id"]).column("id")
            chunks.append(ids.take(pa.array(ordinals[sel] - self.offsets[p])).combine_chunks())
        return pa.chunked_array(chunks, pa.string())

    def text(self, ordinal: int) -> tuple[str, str]:
        """(id, text) of one document, reading only the row group that holds it."""
        p = int(self.part_of(np.array([ordinal]))[0])
        row = int(ordinal - self.offsets[p])
        pf = open_parquet(self.layout.data / self.parts[p].docs)
        for g in range(pf.num_row_groups):
            n = pf.metadata.row_group(g).num_rows
            if row < n:
                t = pf.read_row_group(g, columns=["id", "text"]).slice(row, 1).to_pylist()[0]
                return t["id"], t["text"]
            row -= n
        raise IndexError(f"ordinal {ordinal} beyond {self.parts[p].docs}")


class PairVerifier:
    """Exact Jaccard of the shingle sets of candidate pairs that touch a source in ``verify_sources``;
    such a pair is kept when J >= the larger of the two sources' thresholds. Other pairs pass as the
    LSH found them. Every measured pair is recorded in ``measured`` (for metadata and tests)."""

    def __init__(self, index: DocIndex, ngram: int, verify_sources: Iterable[str], thresholds: dict[str, float],
                 default_threshold: float, cache_docs: int = 32):
        self.index, self.ngram = index, ngram
        self.verify_sources = frozenset(verify_sources)
        self.thresholds, self.default = dict(thresholds), default_threshold
        self.measured: dict[tuple[int, int], float] = {}
        self._sets: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_docs = cache_docs

    def _shingles(self, ordinal: int) -> np.ndarray:
        if ordinal in self._sets:
            self._sets.move_to_end(ordinal)
            return self._sets[ordinal]
        s = minhash.shingle_set(self.index.text(ordinal)[1], self.ngram)
        self._sets[ordinal] = s
        if len(self._sets) > self._cache_docs:
            self._sets.popitem(last=False)
        return s

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        keep = np.ones(len(a), bool)
        src_a, src_b = self.index.sources(a), self.index.sources(b)
        for i in range(len(a)):
            if src_a[i] not in self.verify_sources and src_b[i] not in self.verify_sources:
                continue
            pair = (int(a[i]), int(b[i]))
            if pair not in self.measured:
                self.measured[pair] = minhash.jaccard(self._shingles(pair[0]), self._shingles(pair[1]))
            need = max(self.thresholds.get(src_a[i], self.default), self.thresholds.get(src_b[i], self.default))
            keep[i] = self.measured[pair] >= need
        return keep


# --- the pipeline steps ---------------------------------------------------------------------------------

def update_signatures(layout: Layout, parts: Sequence[tuple[str, int, Location, str]], params: minhash.MinHashParams,
                      folder: Path) -> tuple[DocIndex, list[str]]:
    """Signatures of every (source, rank, exact_dedup part, part fingerprint), reusing current files.

    Returns the index (in the given order) and the parts whose signatures were computed this time."""
    settings = dict(ngram=params.ngram, num_perm=params.num_perm, seed=params.seed)
    code = _code(minhash)
    remove_stale_temps(folder)
    indexed, computed, wanted = [], [], set()
    for source, rank, path, part_fp in parts:
        out = folder / source / path.name
        wanted.add(out)
        fp = fingerprint(part_fp, settings, code)
        if not part_is_current(out, fp):
            table = minhash.part_signatures(iter_batches([path], columns=["id", "source", "text"], batch_size=
                                                         minhash.SIGNATURE_BATCH_ROWS), params)
            write_table_atomic(out, table, {FINGERPRINT_KEY: fp.encode()})
            computed.append(f"{source}/{path.name}")
        rows = pq.ParquetFile(out).metadata.num_rows
        indexed.append(IndexedPart(source, rank, out.relative_to(layout.root).as_posix(),
                                   path.relative_to(layout.data).as_posix(), rows, fp))
    for stale in (p for p in folder.rglob("*.parquet") if p not in wanted) if folder.exists() else ():
        stale.unlink()
    return DocIndex(layout, indexed), computed


def write_band_table(index: DocIndex, params: minhash.MinHashParams, folder: Path, num_partitions: int) -> dict:
    """The band table's partitions and its manifest (index, params, partition names, fingerprint).

    Skipped when the manifest already describes the same signatures, parameters and partition count."""
    names = lsh.partition_names(num_partitions)
    fp = fingerprint([p.fingerprint for p in index.parts], params.as_dict(), num_partitions, _code(lsh, minhash))
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
            for batch in iter_batches([index.layout.root / part.signatures], columns=["shingles", "signature"],
                                      batch_size=16_384):
                sig = minhash.signature_matrix(batch, params.num_perm)
                has = batch.column("shingles").to_numpy(zero_copy_only=False) > 0  # no words: never a duplicate
                rows = np.flatnonzero(has)
                start = offset
                offset += batch.num_rows
                writer.add(lsh.band_keys(sig[rows], params.bands, params.rows), start + rows)
    manifest = dict(fingerprint=fp, params=params.as_dict(), num_partitions=num_partitions, partitions=names,
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


def partition_edges(bands: Path, edges: Path, name: str, manifest: dict, verifier: PairVerifier | None,
                    verify_settings: dict) -> tuple[Path, bool]:
    """The file of one band partition's component edges, and whether it was computed now: reused when
    computed from the same band table and verification settings (that is how the partitioned scale-out
    asset feeds the merge). The merge streams the files; no caller holds every partition's edges."""
    out = edges / f"{name}.parquet"
    fp = fingerprint(manifest["fingerprint"], name, verify_settings, _code(lsh, minhash, sys.modules[__name__]))
    if part_is_current(out, fp):
        return out, False
    table = process_partition(lsh.read_partition(bands / f"{name}.parquet"), verifier)
    write_table_atomic(out, table, {FINGERPRINT_KEY: fp.encode()})
    return out, True


def clear_stale_edges(edges: Path, names: Iterable[str]) -> None:
    keep = {f"{n}.parquet" for n in names}
    for p in edges.glob("*") if edges.exists() else ():
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
