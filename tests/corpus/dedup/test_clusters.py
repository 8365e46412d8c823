import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus.dedup import clusters, lsh, minhash
from corpus.storage import Layout
from tests.corpus.dedup.samples import (book_chunks, book_documents, c4_texts, docs_for, edit_words, run_pipeline,
                                        write_part)


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


def _reference_rounds(keys, docs, duplicate, max_rounds):
    """Every bucket's rounds, each pair verified: the edges found (the rounds before deferral existed)."""
    edges = set()
    for key in set(keys.tolist()):
        open_ = sorted(set(docs[keys == key].tolist()))
        for _ in range(max_rounds):
            if len(open_) < 2:
                break
            head, members = open_[0], open_[1:]
            edges |= {(head, m) for m in members if duplicate(head, m)}
            open_ = [m for m in members if not duplicate(head, m)]
    return edges


def test_deferred_pairs_verified_later_give_the_edges_of_verifying_every_round():
    """Buckets of 2 to 7 documents over 40 ordinals (pairs recur across buckets), a fixed random verdict
    per pair: the pairs verified in the rounds (only those of buckets with 3 or more open rows) plus the
    deferred ones that pass are exactly the edges of verifying every candidate of every round."""
    rng = np.random.default_rng(3)
    sizes = rng.integers(2, 8, 300)
    keys = np.repeat(rng.integers(0, 2**63, len(sizes), dtype=np.uint64), sizes)
    docs = rng.integers(0, 40, len(keys))
    verdict = {(x, y): bool(rng.random() < 0.4) for x in range(40) for y in range(40)}
    asked = []

    def verify(a, b):
        asked.extend(zip(a.tolist(), b.tolist()))
        return np.array([verdict[p] for p in zip(a.tolist(), b.tolist())], bool)

    for max_rounds in (1, 3, 16):
        asked.clear()
        rounds = lsh.verified_star_edges(keys, docs, verify, max_rounds)
        deferred = list(zip(*(d.tolist() for d in rounds.deferred)))
        assert len(deferred) == len(set(deferred)) > 0
        edges = set(zip(*(e.tolist() for e in rounds.edges))) | {p for p in deferred if verdict[p]}
        assert edges == _reference_rounds(keys, docs, lambda x, y: verdict[(x, y)], max_rounds)
        assert (max_rounds == 1) == (not asked)  # the last round defers everything


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
    groups = clusters.verify_candidates(layout.work / "near_dedup" / "edges-4", lsh.partition_names(4),
                                        clusters.read_manifest(layout.work / "near_dedup" / "bands-4"),
                                        run_pipeline(layout, 4)[1], group_pairs=5)
    assert len(groups) > 4  # the deferred candidates verified in many small tasks: the same removals
    assert runs[0].num_rows > 0
    for r in runs[1:] + [again, run_pipeline(layout, 4, group_pairs=5)[0]]:
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


@pytest.fixture
def pg1661_editions(samples_dir, tmp_path):
    """The three pg1661 samples as ordinals 0, 1, 2: the full edition kept first, the second full edition
    (J 0.9598 to it) and the truncated newer release (J 0.7845 to the first, 0.8013 to the second)."""
    layout = Layout(tmp_path / "data")
    books = book_documents(samples_dir)
    editions = [d for folder in ("DerikGreeff__SMS-Assignment", "clocasto__HaikuGenerator", "farbodbj__llm-overflow")
                for d in books[folder] if d["path"].endswith("pg1661.txt")]
    write_part(layout, "exact_dedup", "books", "pg1661", editions)
    return layout, [d["id"] for d in editions]


def test_a_pair_is_measured_once_and_found_in_a_later_partition_only(pg1661_editions):
    """Hand-made band partitions, as the 21 bands spread the three editions: in partition 0 they share a
    bucket, whose head (the first edition) takes the second as its copy and rejects the truncated release,
    so the second and the release are never a candidate there; partitions 1 and 2 propose them (and the
    two full editions again). Each pair is measured once, and the release joins the editions' component."""
    layout, ids = pg1661_editions
    (index, _), work = clusters.update_signatures(layout, [("books", 0, p, "fp") for p in
                                                           layout.docs_parts("exact_dedup", "books")],
                                                  minhash.MinHashParams(), layout.work / "sig"), layout.work / "nd"
    manifest = clusters.write_band_table(index, minhash.MinHashParams.for_threshold(0.8, candidate_threshold=0.55),
                                         work / "bands", 4)
    buckets = {"0": [(1, 0), (1, 1), (1, 2), (2, 0)], "1": [(3, 1), (3, 2), (4, 0), (4, 1)],
               "2": [(5, 2), (5, 1), (6, 1), (6, 0)], "3": []}
    for name, rows in buckets.items():
        keys, docs = np.array([k for k, _ in rows], np.uint64), np.array([d for _, d in rows], np.int64)
        pq.write_table(pa.table([pa.array(keys, pa.uint64()), pa.array(docs)], schema=lsh.BAND_SCHEMA),
                       work / "bands" / f"{name}.parquet")
    verifier = clusters.make_verifier(layout, manifest, ["books"], {})
    files = [clusters.partition_edges(work / "bands", work / "edges", n, manifest, verifier)[0] for n in buckets]
    deferred = {n: pq.read_table(clusters.candidates_path(work / "edges", n)).to_pylist() for n in buckets}
    assert deferred == {"0": [], "1": [{"a": 0, "b": 1}, {"a": 1, "b": 2}], "2": [{"a": 0, "b": 1}, {"a": 1, "b": 2}],
                        "3": []}
    groups = clusters.verify_candidates(work / "edges", list(buckets), manifest, verifier)
    pair_files = [clusters.pairs_path(work / "edges", n) for n in buckets] + [g.measured for g in groups]
    measured = pa.concat_tables([pq.read_table(f) for f in pair_files])
    got = sorted((r["a"], r["b"], round(r["jaccard"], 4), r["duplicate"]) for r in measured.to_pylist())
    # (0, 1) and (0, 2) measured in partition 0 (its next round depends on them); (1, 2) once, in the group
    assert got == [(0, 1, 0.9598, True), (0, 2, 0.7845, False), (1, 2, 0.8013, True)]
    assert [pq.read_table(g.measured).num_rows for g in groups] == [1]
    removals = clusters.merge_removals(files + [g.edges for g in groups], index)
    kept = min(ids)  # one component of the three; one source: the smallest id is kept
    assert dict(zip(removals.column("id").to_pylist(), removals.column("kept_id").to_pylist())) == {
        i: kept for i in ids if i != kept}
