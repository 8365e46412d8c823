"""``merge_removals`` streams the edge files: the same removals as concatenating every edge, and a
memory peak that does not grow with the number of edges."""
import json
import tracemalloc

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpus.dedup import clusters
from corpus.storage import Layout, write_table_atomic
from tests.corpus.dedup.samples import book_chunks, c4_texts, docs_for, edit_words, run_pipeline, write_part


def _concatenating_merge(edge_files, index):
    """The merge as it was (until this test's commit): every partition's edges concatenated, components
    in memory, members sorted as an Arrow table with their ids as Python strings."""
    edges = pa.concat_tables([pq.read_table(f) for f in edge_files])
    nodes, roots = clusters.connected_components(edges.column("doc").to_numpy(), edges.column("root").to_numpy())
    members = pa.table({"root": pa.array(roots), "rank": pa.array(index.ranks(nodes)),
                        "id": pa.array(index.ids(nodes).tolist(), pa.string()),
                        "source": pa.array(index.sources(nodes), pa.string())})
    members = members.take(pc.sort_indices(members, [("root", "ascending"), ("rank", "ascending"), ("id", "ascending")]))
    root = members.column("root").to_numpy()
    first = np.concatenate([[True], root[1:] != root[:-1]])
    head = np.maximum.accumulate(np.where(first, np.arange(len(root)), 0))
    kept = members.column("id").take(pa.array(head))
    removed = pa.table({"id": members.column("id"), "source": members.column("source"), "kept_id": kept},
                       schema=clusters.REMOVALS_SCHEMA).filter(pa.array(~first))
    return removed.take(pc.sort_indices(removed, [("id", "ascending")]))


def _write_edges(folder, a, b, files):
    paths = []
    for i, (x, y) in enumerate(zip(np.array_split(a, files), np.array_split(b, files))):
        paths.append(folder / f"{i:02d}.parquet")
        write_table_atomic(paths[-1], pa.table([pa.array(x), pa.array(y)], schema=clusters.EDGE_SCHEMA))
    return paths


def test_streamed_components_equal_in_memory_ones_across_files_and_batches(tmp_path):
    rng = np.random.default_rng(11)
    a, b = rng.integers(0, 3000, 5000), rng.integers(0, 3000, 5000)
    want_nodes, want_roots = clusters.connected_components(a, b)
    assert len(np.unique(want_roots)) < len(want_nodes) / 2  # real merging across batches happens
    for files, batch_rows in ((1, clusters.EDGE_BATCH_ROWS), (7, 333), (3, 1)):
        nodes, roots = clusters.stream_components(_write_edges(tmp_path / f"{files}-{batch_rows}", a, b, files), batch_rows)
        np.testing.assert_array_equal(nodes, want_nodes)
        np.testing.assert_array_equal(roots, want_roots)


def test_merge_equals_the_concatenating_merge_on_near_duplicates_of_the_samples(samples_dir, tmp_path):
    layout = Layout(tmp_path / "data")
    originals = book_chunks(samples_dir, limit=120) + c4_texts(samples_dir)
    near = [edit_words(t, 0.01, seed=i) for i, t in enumerate(originals[:60])]
    nearer = [edit_words(t, 0.005, seed=100 + i) for i, t in enumerate(originals[:30])]
    write_part(layout, "exact_dedup", "wikipedia", "w", docs_for("wikipedia", "w", originals[:60]))
    write_part(layout, "exact_dedup", "commoncrawl", "snap", docs_for("commoncrawl", "snap", near + nearer))
    write_part(layout, "exact_dedup", "c4", "c", docs_for("c4", "c", originals[60:]))
    removals, _, _ = run_pipeline(layout, num_partitions=16, verify_sources=())
    folder = layout.work / "near_dedup"
    edge_files = sorted((folder / "edges-16").glob("*.parquet"))
    index = clusters.DocIndex.from_json(layout, json.loads((folder / "bands-16" / "manifest.json").read_text())["index"])
    old = _concatenating_merge(edge_files, index)
    edges = sum(pq.ParquetFile(f).metadata.num_rows for f in edge_files)
    assert edges > old.num_rows > 60  # components with 3 members, edges repeated across partitions
    assert removals.equals(old)
    assert clusters.merge_removals(edge_files, index, batch_rows=5).equals(old)  # many batches, same result


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_merge_memory_does_not_grow_with_the_number_of_edges(tmp_path):
    """The same 5,000 documents joined by 10k or 100k edges: the streamed merge's peak (numpy and
    Python objects, which tracemalloc sees) stays within 20%; the concatenating merge's grows."""
    docs = 5000
    layout = Layout(tmp_path / "data")
    signatures = layout.root / "signatures.parquet"
    write_table_atomic(signatures, pa.table({"id": [f"c4/part-0000.json.gz:{i}" for i in range(docs)]}))
    index = clusters.DocIndex(layout, [clusters.IndexedPart("c4", 2, "signatures.parquet", "unused.parquet", docs, "fp")])
    rng = np.random.default_rng(3)
    peaks = {}
    for edges in (10_000, 100_000):
        a = rng.integers(0, docs, edges)
        a[:docs] = np.arange(docs)  # every document in some edge: the node set is the same for both
        b = rng.integers(0, docs, edges)
        files = _write_edges(tmp_path / str(edges), a, b, edges // 10_000)
        if not peaks:  # first calls import and cache (pyarrow compute kernels): not the merge's memory
            clusters.merge_removals(files, index, batch_rows=4096)
        streamed = _peak_bytes(lambda: clusters.merge_removals(files, index, batch_rows=4096))
        concatenated = _peak_bytes(lambda: _concatenating_merge(files, index))
        assert clusters.merge_removals(files, index, batch_rows=4096).equals(_concatenating_merge(files, index))
        peaks[edges] = streamed, concatenated
    assert peaks[100_000][0] <= 1.2 * peaks[10_000][0], peaks
    assert peaks[100_000][1] >= 3 * peaks[10_000][1], peaks  # the measure sees a per-edge cost when there is one
