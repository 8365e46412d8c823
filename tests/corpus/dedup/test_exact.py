"""Exact dedup on real sentences: per hash-prefix bucket, the same removals for any bucket count, the
first copy by (source priority, snapshot order, id) kept."""
import pyarrow.parquet as pq
import pytest

from corpus.dedup import exact
from corpus.schema import documents_to_batch, new_document
from corpus.snapshots import LOCAL


def _texts(samples_dir, n):
    path = samples_dir / "langid" / "lingua-sentences" / "en.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    return ["\n".join(lines[3 * i:3 * i + 3]) for i in range(n)]


def _hash_file(tmp_path, name, docs, rank, snapshot):
    path = tmp_path / f"{name}.parquet"
    pq.write_table(exact.hash_part([documents_to_batch(docs)], rank, snapshot), path)
    return path


def test_first_copy_by_priority_then_snapshot_then_id_for_any_bucket_count(samples_dir, tmp_path):
    texts = _texts(samples_dir, 200)
    # 200 unique texts in the older snapshot; the newer one copies 50 of them (one with changed case and
    # spacing: normalised to the same hash); the local crawl copies 20 and Wikipedia 10
    older = [new_document("commoncrawl", f"old:{i}", t) for i, t in enumerate(texts)]
    newer = [new_document("commoncrawl", f"new:{i}", texts[i].upper() + "  " if i == 0 else texts[i]) for i in range(50)]
    newer += [new_document("commoncrawl", f"new:u{i}", t + " (2)") for i, t in enumerate(texts[:30])]
    local = [new_document("commoncrawl", f"loc:{i}", texts[180 + i]) for i in range(20)]
    wiki = [new_document("wikipedia", f"w:{i}", texts[100 + i]) for i in range(10)]
    files = [_hash_file(tmp_path, "wiki", wiki, 0, LOCAL),
             _hash_file(tmp_path, "old", older, 6, "CC-MAIN-2024-10"),
             _hash_file(tmp_path, "new", newer, 6, "CC-MAIN-2024-18"),
             _hash_file(tmp_path, "loc", local, 6, LOCAL)]
    removals = exact.find_duplicates(files, 1)
    kept = dict(zip(removals.column("id").to_pylist(), removals.column("kept_id").to_pylist()))
    ids = {d["id"]: d for d in older + newer + local + wiki}
    new_ids = [d["id"] for d in newer[:50]]
    assert all(kept[i] == older[k]["id"] for k, i in enumerate(new_ids))  # the newer snapshot loses its copies
    assert all(kept[older[100 + k]["id"]] == wiki[k]["id"] for k in range(10))  # source priority first
    assert all(kept[older[180 + k]["id"]] == local[k]["id"] for k in range(20))  # the local crawl before snapshots
    assert len(kept) == 80 and not any(i in kept for i in (d["id"] for d in newer[50:]))
    assert removals.column("id").to_pylist() == sorted(kept) and set(kept) <= set(ids)
    prefixes = {i: p for f in files for i, p in zip(*pq.read_table(f, columns=["id", "prefix"]).to_pydict().values())}
    for buckets in (2, 5, 16):
        parts = [exact.bucket_duplicates(files, b, buckets) for b in range(buckets)]
        assert exact.merge_buckets(parts[::-1]).equals(removals)  # whatever order the buckets finish in
        for b, part in enumerate(parts):
            lo, hi = exact.bucket_range(b, buckets)
            assert all(lo <= prefixes[i] < hi for i in part.column("id").to_pylist())
    with pytest.raises(ValueError, match="at most 65536"):
        exact.bucket_range(0, 1 << 17)
