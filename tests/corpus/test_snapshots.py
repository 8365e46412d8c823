"""Listings of Common Crawl snapshots, file partition keys and raw-folder listings."""
import gzip
import json
import os

import pytest

from corpus import snapshots
from corpus.inputs import part_name

WET = "crawl-data/CC-MAIN-2024-10/segments/1707947473347.0/wet/CC-MAIN-20240220211055-20240221001055-00000.warc.wet.gz"
COLLINFO = [
    {"id": "CC-MAIN-2024-10", "name": "February/March 2024 Index", "cdx-api": "https://index.commoncrawl.org/CC-MAIN-2024-10-index"},
    {"id": "CC-MAIN-2023-50", "name": "November/December 2023 Index"},
    {"id": "CC-MAIN-2008-2009", "name": "Index of 2008 - 2009 ARC files"},  # ARC era: no WET files
]


def test_parse_collinfo_keeps_wet_era_snapshots_in_listing_order():
    found = snapshots.parse_collinfo(json.dumps(COLLINFO))
    assert [s.id for s in found] == ["CC-MAIN-2024-10", "CC-MAIN-2023-50"]
    assert found[0].name == "February/March 2024 Index"
    with pytest.raises(snapshots.ListingError, match="'id'"):
        snapshots.parse_collinfo(json.dumps([{"name": "no id"}]))
    with pytest.raises(snapshots.ListingError, match="not JSON"):
        snapshots.parse_collinfo("<html>")


def test_new_snapshots_first_tick_takes_only_the_newest_then_only_unknown_ones():
    listed = ["CC-MAIN-2024-10", "CC-MAIN-2023-50", "CC-MAIN-2023-40"]
    assert snapshots.new_snapshots(listed, None, initial=1) == ["CC-MAIN-2024-10"]
    assert snapshots.new_snapshots(listed, None, initial=2) == ["CC-MAIN-2023-50", "CC-MAIN-2024-10"]
    assert snapshots.new_snapshots(listed, ["CC-MAIN-2023-50", "CC-MAIN-2023-40"]) == ["CC-MAIN-2024-10"]
    assert snapshots.new_snapshots(listed, listed) == []


def test_parse_paths_reads_gzip_applies_the_limit_and_rejects_foreign_paths():
    other = WET.replace("00000", "00001")
    data = gzip.compress(f"{WET}\n{other}\n\n".encode())
    assert snapshots.parse_paths(data, "CC-MAIN-2024-10") == [WET.removeprefix("crawl-data/"), other.removeprefix("crawl-data/")]
    assert snapshots.parse_paths(data, "CC-MAIN-2024-10", limit=1) == [WET.removeprefix("crawl-data/")]
    with pytest.raises(snapshots.ListingError, match="line 1"):
        snapshots.parse_paths(data, "CC-MAIN-2023-50")


def test_partition_key_is_the_ingest_part_name_and_maps_back_to_the_url(tmp_path):
    relpath = WET.removeprefix("crawl-data/")
    key = snapshots.partition_key(relpath)
    assert key == part_name(tmp_path, tmp_path / relpath)  # what commoncrawl_documents names the same file
    assert key == "CC-MAIN-2024-10__segments__1707947473347.0__wet__CC-MAIN-20240220211055-20240221001055-00000.warc.wet.gz"
    assert snapshots.relpath_for_key(key) == relpath
    assert snapshots.file_url("http://h:1/", relpath) == f"http://h:1/{WET}"
    assert snapshots.wet_paths_url("http://h:1", "CC-MAIN-2024-10") == "http://h:1/crawl-data/CC-MAIN-2024-10/wet.paths.gz"
    assert snapshots.snapshot_of(relpath) == "CC-MAIN-2024-10"


@pytest.mark.parametrize("relpath, key", [("a__b/c.gz", "=a_5f_5fb__c.gz"), ("a/_b.gz", "=a___5fb.gz"),
                                           ("a b/c.gz", "=a_20b__c.gz"), ("x/a~b.warc.gz", "=x__a_7eb.warc.gz")])
def test_a_path_that_is_not_ordinary_is_the_partition_of_its_escaped_part_name(tmp_path, relpath, key):
    assert snapshots.partition_key(relpath) == key == part_name(tmp_path, tmp_path / relpath)
    assert snapshots.relpath_for_key(key) == relpath
    assert snapshots.file_url("http://h:1", relpath) == f"http://h:1/crawl-data/{relpath.replace(' ', '%20')}"


@pytest.mark.parametrize("bad", ["../x.gz", "a/../../x.gz", "a//b.gz", "./a.gz", "a/.../b", "/abs/x.gz"])
def test_paths_that_leave_the_root_or_that_dagster_refuses_are_refused(bad):
    with pytest.raises(snapshots.ListingError):
        snapshots.partition_key(bad)


@pytest.mark.parametrize("key", ["=..__x.gz", "=a____b.gz", "=a_41.gz", "=a_2", "=plain.gz", "=", ""])
def test_a_key_that_is_no_part_name_of_a_path_under_the_root_is_refused(key):
    """A key that escapes out of the root, or that is not the canonical part name of any path (so no two
    keys name one file)."""
    with pytest.raises(snapshots.ListingError):
        snapshots.relpath_for_key(key)


def test_folder_listing_hash_changes_with_content_and_ignores_partial_downloads(tmp_path, samples_dir):
    src = samples_dir / "commoncrawl" / "cc-main-2024-22_whirlwind" / "whirlwind.warc.wet.gz"
    (tmp_path / "commoncrawl").mkdir()
    (tmp_path / "commoncrawl" / src.name).write_bytes(src.read_bytes())
    first = snapshots.folder_listing(tmp_path)
    assert [e.path for e in first] == ["commoncrawl/whirlwind.warc.wet.gz"] and first[0].size == src.stat().st_size
    (tmp_path / "commoncrawl" / "next.warc.gz.part").write_bytes(b"half")  # a download in progress
    assert snapshots.listing_hash(snapshots.folder_listing(tmp_path)) == snapshots.listing_hash(first)
    target = tmp_path / "commoncrawl" / src.name
    os.utime(target, ns=(first[0].mtime_ns + 10**9, first[0].mtime_ns + 10**9))
    assert snapshots.listing_hash(snapshots.folder_listing(tmp_path)) != snapshots.listing_hash(first)
    assert snapshots.folder_listing(tmp_path / "missing") == []


def test_part_snapshot_and_snapshot_order(tmp_path):
    assert snapshots.part_snapshot("crawl-data__CC-MAIN-2024-10__segments__s__wet__a.warc.wet.gz.parquet") == "CC-MAIN-2024-10"
    assert snapshots.part_snapshot("CC-MAIN-2023-50__segments__s__wet__a.warc.wet.gz") == "CC-MAIN-2023-50"
    assert snapshots.part_snapshot("cc-main-2024-22_whirlwind__whirlwind.warc.gz") == snapshots.LOCAL
    assert snapshots.part_snapshot("=x_20y__CC-MAIN-2024-10__a") == "CC-MAIN-2024-10"
    parts = [tmp_path / n for n in ("CC-MAIN-2024-18__b.parquet", "mine.warc.gz.parquet", "CC-MAIN-2024-10__z.parquet",
                                    "CC-MAIN-2024-10__a.parquet")]
    grouped = snapshots.by_snapshot(parts)
    assert list(grouped) == [snapshots.LOCAL, "CC-MAIN-2024-10", "CC-MAIN-2024-18"]
    assert [p.name for p in grouped["CC-MAIN-2024-10"]] == ["CC-MAIN-2024-10__z.parquet", "CC-MAIN-2024-10__a.parquet"]
