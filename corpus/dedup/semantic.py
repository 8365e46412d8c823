"""Semantic dedup (SemDeDup, Abbas et al. 2023): embeddings -> k-means -> near pairs within each cluster.

Flow (no Dagster here; ``assets/semantic_dedup.py`` wraps it):

1. ``part_embeddings``: one unit-length embedding per document of a part (an ``embed(texts)`` callable,
   e.g. ``quality_models.semantic_embeddings.DocumentEmbedder.embed``), stored per part by the caller and
   reused while the part and the model are current.
2. ``train_centroids``: spherical k-means (faiss, seeded) on a hash-priority sample of at most
   ``k * kmeans_max_docs_per_cluster`` documents (faiss's own cap), ``k = cluster_count(n)``.
3. ``assign_groups``: each document's nearest centroid (cosine) and its cosine to it, written to one of
   ``G`` group files (cluster id mod G), G chosen so that a group's embeddings fit ``group_bytes``.
4. ``find_duplicates``: a group at a time, per cluster, the cosine of every pair (a block of rows at a
   time); a pair at cosine >= 1 - eps is an edge; the connected components of the edges are the duplicate
   groups, each keeping ONE document: the first by (``DEDUP_SOURCE_PRIORITY`` rank, cosine to the centroid
   ascending, id). Within a source that is SemDeDup's and NeMo Curator's default (``which_to_keep="hard"``:
   the document farthest from the centroid, the least prototypical, is kept); across sources a curated
   source wins, as in exact and near dedup. SemDeDup's own pass removes every document with a similar one
   earlier in that order, which can keep two of a chain A~B~C; components keep exactly one per group.

The result is the near-dedup removals contract (id, source, kept_id), the within-cluster nearest-neighbour
cosine of every document (a bounded sample for the histogram, exact counts per eps), and the cluster sizes.
A document without a single word has a zero embedding: never clustered, never a duplicate.
"""
from __future__ import annotations

import math
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from corpus import recipe
from corpus.dedup.clusters import REMOVALS_SCHEMA, connected_components
from corpus.sampling import PrioritySample
from corpus.storage import Location, atomic_path, iter_batches

EMBED_BATCH_ROWS = 512
NN_SAMPLE_DOCS = 100_000  # nearest-neighbour cosines kept for the histogram (a hash-priority sample)
Embed = Callable[[pa.Array], np.ndarray]


@dataclass(frozen=True)
class SemDedupParams:
    eps: float = recipe.SEMDEDUP_EPS
    clusters: int = recipe.SEMDEDUP_CLUSTERS
    min_docs_per_cluster: int = recipe.SEMDEDUP_MIN_DOCS_PER_CLUSTER
    kmeans_max_docs_per_cluster: int = recipe.SEMDEDUP_KMEANS_MAX_DOCS_PER_CLUSTER
    kmeans_iterations: int = recipe.SEMDEDUP_KMEANS_ITERATIONS
    kmeans_seed: int = recipe.SEMDEDUP_KMEANS_SEED
    group_bytes: int = recipe.SEMDEDUP_GROUP_BYTES
    similarity_block: int = recipe.SEMDEDUP_SIMILARITY_BLOCK

    def as_dict(self) -> dict:
        return asdict(self)


def embedding_schema(dim: int) -> pa.Schema:
    return pa.schema([("id", pa.string()), ("source", pa.string()), ("embedding", pa.list_(pa.float32(), dim))])


def part_embeddings(batches: Iterable[pa.RecordBatch], embed: Embed, dim: int) -> pa.Table:
    """The embeddings of one part's documents, row for row (columns id, source, text needed)."""
    tables = []
    for batch in batches:
        e = embed(batch.column("text"))
        values = pa.FixedSizeListArray.from_arrays(pa.array(e.reshape(-1), pa.float32()), dim)
        tables.append(pa.Table.from_arrays([batch.column("id"), batch.column("source"), values],
                                           schema=embedding_schema(dim)))
    return pa.concat_tables(tables) if tables else embedding_schema(dim).empty_table()


def embedding_matrix(table: pa.Table | pa.RecordBatch) -> np.ndarray:
    column = table.column("embedding")
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    dim = column.type.list_size
    flat = [c.flatten().to_numpy(zero_copy_only=False) for c in chunks]
    return (np.concatenate(flat) if flat else np.empty(0, np.float32)).reshape(-1, dim)


@dataclass(frozen=True)
class EmbeddedPart:
    """A part's stored embeddings and its source's rank in ``DEDUP_SOURCE_PRIORITY``."""

    source: str
    rank: int
    path: Location


def _embedded_batches(parts: Sequence[EmbeddedPart]):
    """(part, batch, unit embeddings, has-words mask) of every stored batch, in part order."""
    for part in parts:
        for batch in iter_batches([part.path], columns=["id", "source", "embedding"]):
            x = embedding_matrix(batch)
            yield part, batch, x, np.abs(x).sum(1) > 0


def cluster_count(docs: int, params: SemDedupParams) -> int:
    """``params.clusters``, capped so that a cluster averages at least ``min_docs_per_cluster`` documents."""
    return max(1, min(params.clusters, docs // params.min_docs_per_cluster))


def _priority(doc_id: str, seed: int) -> int:
    return xxhash.xxh3_64_intdigest(doc_id.encode(), seed=seed)


def train_centroids(parts: Sequence[EmbeddedPart], params: SemDedupParams) -> tuple[np.ndarray, int]:
    """(k unit centroids, documents with words): spherical k-means on a hash-priority sample."""
    docs, dim = 0, None
    for _, batch, x, has in _embedded_batches(parts):
        docs += int(has.sum())
        dim = x.shape[1]
    if not docs:
        return np.empty((0, dim or 0), np.float32), 0
    k = cluster_count(docs, params)
    sample = PrioritySample(k * params.kmeans_max_docs_per_cluster)
    for _, batch, x, has in _embedded_batches(parts):
        for doc_id, row in zip(batch.column("id").filter(pa.array(has)).to_pylist(), x[has]):
            sample.add(_priority(doc_id, params.kmeans_seed), doc_id, row)
    train = np.stack([row for _, _, row in sample.items()]).astype(np.float32)
    kmeans = faiss.Kmeans(train.shape[1], k, niter=params.kmeans_iterations, seed=params.kmeans_seed,
                          spherical=True, min_points_per_centroid=1, max_points_per_centroid=len(train),
                          verbose=False)
    kmeans.train(train)
    centroids = kmeans.centroids / np.maximum(np.linalg.norm(kmeans.centroids, axis=1, keepdims=True), 1e-12)
    return centroids.astype(np.float32), docs


GROUP_SCHEMA_FIELDS = [("id", pa.string()), ("source", pa.string()), ("rank", pa.int32()), ("cluster", pa.int32()),
                       ("centroid_cos", pa.float32())]


def group_count(docs: int, dim: int, params: SemDedupParams) -> int:
    return max(1, math.ceil(docs * dim * 4 / params.group_bytes))


def assign_groups(parts: Sequence[EmbeddedPart], centroids: np.ndarray, groups: int, folder: Path) -> list[Path]:
    """Each document's nearest centroid and cosine to it, into ``groups`` files by cluster id modulo ``groups``."""
    dim = centroids.shape[1]
    schema = pa.schema(GROUP_SCHEMA_FIELDS + [("embedding", pa.list_(pa.float32(), dim))])
    index = faiss.IndexFlatIP(dim)
    index.add(centroids)
    paths = [folder / f"group-{g:05d}.parquet" for g in range(groups)]
    folder.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:  # every group file is renamed into place only when all are complete
        writers = [stack.enter_context(pq.ParquetWriter(stack.enter_context(atomic_path(p)), schema)) for p in paths]
        for part, batch, x, has in _embedded_batches(parts):
            rows = np.flatnonzero(has)
            if not len(rows):
                continue
            cos, nearest = index.search(np.ascontiguousarray(x[rows]), 1)
            cluster, cos = nearest[:, 0].astype(np.int32), cos[:, 0].astype(np.float32)
            table = pa.Table.from_arrays(
                [batch.column("id").take(rows), batch.column("source").take(rows),
                 pa.array(np.full(len(rows), part.rank, np.int32)), pa.array(cluster), pa.array(cos),
                 batch.column("embedding").take(rows)], schema=schema)
            for g in range(groups):
                mine = cluster % groups == g
                if mine.any():
                    writers[g].write_table(table.filter(pa.array(mine)))
    return paths


def cluster_duplicates(x: np.ndarray, eps: float, block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Within one cluster whose rows are in keep order: (removed rows, the row each one's group keeps,
    every row's nearest-neighbour cosine; -1 for a cluster of one)."""
    n = len(x)
    nn = np.full(n, -1.0, np.float32)
    a, b = [], []
    for s in range(0, n, block):
        sims = x[s:s + block] @ x.T
        rows = np.arange(s, min(s + block, n))
        sims[rows - s, rows] = -np.inf  # not a document's own neighbour
        if n > 1:
            nn[rows] = sims.max(1)
        i, j = np.nonzero(sims >= 1 - eps)
        later = j > i + s  # each pair once
        a.append(i[later] + s)
        b.append(j[later])
    nodes, roots = connected_components(np.concatenate(a), np.concatenate(b))
    moved = nodes != roots  # the root is the component's first row: the one kept
    return nodes[moved], roots[moved], nn


@dataclass
class SemDedupResult:
    removals: pa.Table
    docs: int
    clusters: int
    groups: int
    cluster_sizes: list[int] = field(default_factory=list)
    near_counts: dict[float, int] = field(default_factory=dict)  # eps -> docs with a neighbour at cosine >= 1 - eps
    nn_sample: list[float] = field(default_factory=list)  # within-cluster nearest-neighbour cosines (sample)


def find_duplicates(parts: Sequence[EmbeddedPart], params: SemDedupParams, work: Path,
                    eps_reported: Sequence[float] = recipe.SEMDEDUP_EPS_REPORTED) -> SemDedupResult:
    """The semantic duplicates of the embedded parts (see the module docstring), sorted by id."""
    centroids, docs = train_centroids(parts, params)
    if not docs:
        return SemDedupResult(REMOVALS_SCHEMA.empty_table(), 0, 0, 0)
    groups = group_count(docs, centroids.shape[1], params)
    for stale in work.glob("group-*.parquet") if work.exists() else ():
        stale.unlink()
    paths = assign_groups(parts, centroids, groups, work)
    sizes = np.zeros(len(centroids), np.int64)
    near = dict.fromkeys(eps_reported, 0)
    sample = PrioritySample(NN_SAMPLE_DOCS)
    removed = []
    for path in paths:
        table = pq.read_table(path)
        table = table.take(pc.sort_indices(table, [("cluster", "ascending"), ("rank", "ascending"),
                                                   ("centroid_cos", "ascending"), ("id", "ascending")]))
        cluster = table.column("cluster").to_numpy()
        x = embedding_matrix(table)
        ids = table.column("id")
        bounds = np.flatnonzero(np.concatenate([[True], cluster[1:] != cluster[:-1], [True]]))
        for s, e in zip(bounds[:-1], bounds[1:]):
            sizes[cluster[s]] = e - s
            gone, kept, nn = cluster_duplicates(x[s:e], params.eps, params.similarity_block)
            for eps in near:
                near[eps] += int((nn >= 1 - eps).sum())
            for doc_id, value in zip(ids.slice(s, e - s).to_pylist(), nn.tolist()):
                if value > -1:
                    sample.add(_priority(doc_id, 0), doc_id, value)
            if len(gone):
                removed.append(pa.table([ids.take(pa.array(gone + s)), table.column("source").take(pa.array(gone + s)),
                                         ids.take(pa.array(kept + s))], schema=REMOVALS_SCHEMA))
    removals = pa.concat_tables(removed) if removed else REMOVALS_SCHEMA.empty_table()
    removals = removals.take(pc.sort_indices(removals, [("id", "ascending")]))
    return SemDedupResult(removals, docs, len(centroids), groups, sorted(sizes.tolist(), reverse=True), near,
                          [v for _, _, v in sample.items()])
