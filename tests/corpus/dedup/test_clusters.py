import numpy as np
import pyarrow.parquet as pq
import pytest

from corpus.dedup import clusters, lsh
from corpus.storage import Layout
from tests.corpus.dedup.samples import book_chunks, c4_texts, docs_for, edit_words, run_pipeline, write_part


def _reference_components(a, b):
    parent = {}

    def find(x):
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for x, y in zip(a.tolist(), b.tolist()):
        fx, fy = find(x), find(y)
        if fx != fy:
            parent[max(fx, fy)] = min(fx, fy)
    return {x: find(x) for x in set(a.tolist()) | set(b.tolist())}


def test_components_match_reference_union_find_in_any_edge_order():
    rng = np.random.default_rng(7)
    a, b = rng.integers(0, 5000, 4000), rng.integers(0, 5000, 4000)
    nodes, roots = clusters.connected_components(a, b)
    ref = _reference_components(a, b)
    assert dict(zip(nodes.tolist(), roots.tolist())) == ref
    perm = rng.permutation(len(a))
    nodes2, roots2 = clusters.connected_components(b[perm], a[perm])
    np.testing.assert_array_equal(nodes, nodes2)
    np.testing.assert_array_equal(roots, roots2)


def test_a_bucket_of_k_gives_k_minus_1_star_edges_to_its_minimum():
    keys = np.array([5, 5, 5, 5, 9, 1, 1], np.uint64)
    docs = np.array([40, 10, 30, 20, 7, 3, 3], np.int64)  # doc 3 twice in one bucket: no self edge
    a, b = lsh.star_edges(keys, docs)
    assert sorted(zip(a.tolist(), b.tolist())) == [(10, 20), (10, 30), (10, 40)]


def test_partition_names_are_hex_prefixes():
    assert lsh.partition_names(16)[:3] == ["0", "1", "2"] and lsh.partition_names(64)[-1] == "3f"
    with pytest.raises(ValueError):
        lsh.partition_names(12)


@pytest.fixture(scope="module")
def corpus_with_copies(samples_dir, tmp_path_factory):
    """Real passages and C4 pages, with edited copies at known edit rates in other sources' parts."""
    root = tmp_path_factory.mktemp("near") / "data"
    layout = Layout(root)
    originals = book_chunks(samples_dir, limit=120) + c4_texts(samples_dir)
    near = [edit_words(t, 0.01, seed=i) for i, t in enumerate(originals[:40])]  # J ~ 0.9
    far = [edit_words(t, 0.15, seed=i) for i, t in enumerate(originals[40:60])]  # J ~ 0.2
    wiki = docs_for("wikipedia", "w", originals[:60])
    cc = docs_for("commoncrawl", "snap1", near) + docs_for("commoncrawl", "snap1b", far)
    c4 = docs_for("c4", "c", originals[60:])
    write_part(layout, "exact_dedup", "wikipedia", "w-000", wiki[:30])
    write_part(layout, "exact_dedup", "wikipedia", "w-001", wiki[30:])
    write_part(layout, "exact_dedup", "commoncrawl", "snap1", cc)
    write_part(layout, "exact_dedup", "c4", "c", c4)
    return layout, wiki, cc


def test_near_copies_removed_for_the_priority_original(corpus_with_copies):
    layout, wiki, cc = corpus_with_copies
    removals, _, _ = run_pipeline(layout, num_partitions=4)
    got = dict(zip(removals.column("id").to_pylist(), removals.column("kept_id").to_pylist()))
    expected = {cc[i]["id"]: wiki[i]["id"] for i in range(40)}
    # J ~ 0.906, LSH at the candidate threshold 0.55 (21 bands x 6 rows): P(found) = 1 - (1 - J**6)**21
    # ~ 1.000 each (9 x 13 at 0.8 found 36); every candidate verified at J >= 0.8: all 40, each for its original
    assert got == expected
    far_ids = {d["id"] for d in cc[40:]}
    assert not far_ids & set(got)
    assert not {d["id"] for d in wiki} & set(got)  # wikipedia ranks first: the originals are kept


def test_same_kept_set_for_any_partition_count_and_rerun(corpus_with_copies):
    layout, _, _ = corpus_with_copies
    runs = [run_pipeline(layout, n)[0] for n in (1, 4, 16)]
    again, _, computed = run_pipeline(layout, 16)
    assert computed == []  # signatures reused on the rerun
    assert runs[0].num_rows > 0
    for r in runs[1:] + [again]:
        assert r.equals(runs[0])


def test_band_table_partitions_hold_each_bucket_once(corpus_with_copies):
    layout, _, _ = corpus_with_copies
    run_pipeline(layout, 16)
    folder = layout.work / "near_dedup" / "bands-16"
    seen = {}
    for name in lsh.partition_names(16):
        keys = pq.read_table(folder / f"{name}.parquet").column("key").to_numpy()
        assert ((keys >> np.uint64(60)) == int(name, 16)).all()
        for k in np.unique(keys):
            assert k not in seen
            seen[k] = name
