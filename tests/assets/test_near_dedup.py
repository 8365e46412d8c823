import dagster as dg
import pyarrow.parquet as pq
import pytest

from assets import dedup
from assets.resources import CorpusStorage
from corpus.storage import Layout, read_table
from tests.corpus.dedup.samples import book_chunks, book_documents, c4_texts, docs_for, edit_words, write_part

NEAR_ASSETS = [dedup.minhash_signatures, dedup.lsh_band_table, dedup.near_duplicates, dedup.near_dedup]


def _materialize(root, assets, **kwargs):
    result = dg.materialize(assets, resources={"corpus_storage": CorpusStorage(data_root=str(root))}, **kwargs)
    assert result.success
    return result


def _metadata(result, key):
    mats = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key]
    return mats[-1].materialization.metadata


def _dropped(layout, source):
    tables = [read_table(p) for p in layout.parts("dropped", "near_dedup", source)]
    return {r["id"]: (r["reason"], r["detail"]) for t in tables for r in t.to_pylist()}


@pytest.fixture
def books_root(samples_dir, tmp_path):
    """The Gutenberg samples as books documents (one part per repository folder) + real C4 pages."""
    layout = Layout(tmp_path / "data")
    books = book_documents(samples_dir)
    for folder, docs in books.items():
        write_part(layout, "exact_dedup", "books", folder, docs)
    write_part(layout, "exact_dedup", "c4", "c4-sample", docs_for("c4", "c4", c4_texts(samples_dir)))
    return layout, {f"{folder}/{d['path'].split('/')[1]}": d["id"] for folder, docs in books.items() for d in docs}


def test_the_second_full_edition_of_each_book_is_dropped_as_near_dup(books_root):
    layout, ids = books_root
    result = _materialize(layout.root, NEAR_ASSETS)
    dropped = _dropped(layout, "books")
    expected = {}
    for book in ("pg1342.txt", "pg1661.txt"):
        a, b = ids[f"DerikGreeff__SMS-Assignment/{book}"], ids[f"clocasto__HaikuGenerator/{book}"]
        kept, removed = min(a, b), max(a, b)  # same source: the smaller id is kept
        expected[removed] = ("near_duplicate", kept)
    # measured exact Jaccards (5-grams, nothing stripped): pg1342 0.974, pg1661 0.960 -> removed at 0.9;
    # the truncated newer pg1661 release is 0.78-0.80 to the full ones and the #42671 excerpt 0.08: kept
    assert dropped == expected
    meta = _metadata(result, "near_duplicates")
    assert meta["near_duplicates"].value == 2
    # every candidate pair verified (all sources): the two full-edition pairs, and the truncated pg1661
    # release to each full edition (0.7845, 0.8013: below the books' 0.9). 12 measurements: the pairs of
    # pg1661's 3-document buckets are measured in each partition whose next round depends on them (the
    # process's memo computes each once), every other candidate once, globally (clusters.verify_candidates)
    assert (meta["pairs_verified"].value, meta["pairs_duplicate"].value, meta["pairs_rejected"].value,
            meta["pairs_measured"].value) == (4, 2, 2, 12)
    table = meta["verified_pairs"].value
    assert "| 0.9741 | yes |" in table and "| 0.9598 | yes |" in table
    assert "| 0.7845 | no |" in table and "| 0.8013 | no |" in table
    curated = [i for p in layout.docs_parts("near_dedup", "books") for i in read_table(p, columns=["id"]).column("id").to_pylist()]
    assert set(curated) == set(ids.values()) - set(expected)


def test_without_verification_the_truncated_release_joins_the_full_editions(books_root):
    layout, ids = books_root
    config = {"ops": {"near_duplicates": {"config": {"verify_sources": []}}}}
    _materialize(layout.root, NEAR_ASSETS[:3], run_config=config)
    removals = pq.read_table(dedup.near_dup_removals_path(layout))
    got = dict(zip(removals.column("id").to_pylist(), removals.column("kept_id").to_pylist()))
    # the LSH's candidates alone (21 x 6 for 0.55), permutations seeded: the truncated pg1661 release (J 0.78-0.80 to the full
    # editions) joins their component and, having the smallest id of the three, is the one kept; the two
    # full copies of pg1342 are one component; the unrelated #42671 excerpt is in none
    truncated = ids["farbodbj__llm-overflow/pg1661.txt"]
    pg1342 = sorted(ids[f"{folder}/pg1342.txt"] for folder in ("DerikGreeff__SMS-Assignment", "clocasto__HaikuGenerator"))
    assert got == {ids["DerikGreeff__SMS-Assignment/pg1661.txt"]: truncated,
                   ids["clocasto__HaikuGenerator/pg1661.txt"]: truncated, pg1342[1]: pg1342[0]}


def test_a_new_snapshot_computes_only_its_own_signatures(samples_dir, tmp_path):
    layout = Layout(tmp_path / "data")
    texts = book_chunks(samples_dir, limit=150)
    old = docs_for("commoncrawl", "2024-10", texts[:100])
    write_part(layout, "exact_dedup", "commoncrawl", "2024-10", old)
    first = _materialize(layout.root, NEAR_ASSETS[:3])
    assert _metadata(first, "minhash_signatures")["parts_computed"].value == 1
    sig_file = layout.work / "near_dedup" / "signatures" / "commoncrawl" / "2024-10.parquet"
    before = sig_file.stat().st_mtime_ns
    # the new snapshot: 50 new pages + near copies of 10 pages of the old one
    new = docs_for("commoncrawl", "2024-18", texts[100:] + [edit_words(t, 0.01, seed=i) for i, t in enumerate(texts[:10])])
    write_part(layout, "exact_dedup", "commoncrawl", "2024-18", new)
    second = _materialize(layout.root, NEAR_ASSETS[:3])
    assert _metadata(second, "minhash_signatures")["parts_computed"].value == 1
    assert _metadata(second, "minhash_signatures")["parts"].value == 2
    assert sig_file.stat().st_mtime_ns == before
    removals = pq.read_table(dedup.near_dup_removals_path(layout))
    got = dict(zip(removals.column("id").to_pylist(), removals.column("kept_id").to_pylist()))
    # same source: of each (old page, its copy) the smaller id is kept, the other removed
    pairs = [(old[i]["id"], new[50 + i]["id"]) for i in range(10)]
    # permutations are seeded: every one of the ten copies (1% of words edited) is found, nothing else
    assert got == {max(p): min(p) for p in pairs}


def test_partitioned_scale_out_gives_the_unpartitioned_result(samples_dir, tmp_path):
    texts = book_chunks(samples_dir, limit=120)
    pages = texts + [edit_words(t, 0.01, seed=i) for i, t in enumerate(texts[:30])]
    roots = []
    for name in ("plain", "scaled"):
        layout = Layout(tmp_path / name)
        write_part(layout, "exact_dedup", "c4", "c4", docs_for("c4", "c4", pages))
        roots.append(layout)
    _materialize(roots[0].root, NEAR_ASSETS[:3])
    _materialize(roots[1].root, NEAR_ASSETS[:2])
    for key in dedup.BAND_PARTITIONS.get_partition_keys():
        _materialize(roots[1].root, [dedup.lsh_band_partitions], partition_key=key)
    merged = _materialize(roots[1].root, [dedup.near_duplicates])
    assert _metadata(merged, "near_duplicates")["partitions_processed"].value == 0
    assert _metadata(merged, "near_duplicates")["partitions_reused"].value == len(dedup.BAND_PARTITIONS.get_partition_keys())
    a, b = (pq.read_table(dedup.near_dup_removals_path(l)) for l in roots)
    assert a.equals(b)
    # the permutations are seeded, so the result is fixed: all 30 copies (J~0.9, each a candidate with
    # p~1.000 at the LSH's 21 x 6, 27 at 9 x 13 before) are removed for their original (same source: the
    # smaller id is kept), nothing else is
    ids = [d["id"] for d in docs_for("c4", "c4", pages)]
    copies = {max(ids[i], ids[120 + i]): min(ids[i], ids[120 + i]) for i in range(30)}
    got = dict(zip(a.column("id").to_pylist(), a.column("kept_id").to_pylist()))
    assert got == copies


def test_the_snapshot_scope_is_run_config_of_the_band_table(samples_dir, tmp_path):
    layout = Layout(tmp_path / "data")
    texts = book_chunks(samples_dir, limit=40)
    old = docs_for("commoncrawl", "2024-10", texts[:20], meta={"snapshot": "CC-MAIN-2024-10"})
    new = docs_for("commoncrawl", "2024-18", texts[20:] + [edit_words(t, 0.005, seed=i) for i, t in enumerate(texts)],
                   meta={"snapshot": "CC-MAIN-2024-18"})
    write_part(layout, "exact_dedup", "commoncrawl", "CC-MAIN-2024-10", old)
    write_part(layout, "exact_dedup", "commoncrawl", "CC-MAIN-2024-18", new)
    config = {"ops": {"lsh_band_table": {"config": {"scope": "snapshot"}}}}
    result = _materialize(layout.root, NEAR_ASSETS[:3], run_config=config)
    assert _metadata(result, "lsh_band_table")["scope"].value == "snapshot"
    removals = pq.read_table(dedup.near_dup_removals_path(layout))
    got = dict(zip(removals.column("id").to_pylist(), removals.column("kept_id").to_pylist()))
    # the 2024-18 copies of 2024-18 pages go, those of 2024-10 pages stay: no cluster spans two snapshots
    within = [(new[i]["id"], new[40 + i]["id"]) for i in range(20)]
    assert got == {max(p): min(p) for p in within}
    with pytest.raises(ValueError, match="scope must be one of"):
        dg.materialize(NEAR_ASSETS[1:2], resources={"corpus_storage": CorpusStorage(data_root=str(layout.root))},
                       run_config={"ops": {"lsh_band_table": {"config": {"scope": "dump"}}}})
