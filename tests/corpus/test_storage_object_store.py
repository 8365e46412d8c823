"""The storage layer on non-local pyarrow filesystems: a ``SubTreeFileSystem`` over a temp folder and an
in-process S3 (moto, loopback). Parts are the same bytes as on a local disk, fingerprints are read back
through the filesystem, and no temp key outlives a failed write or a killed run."""
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from corpus.schema import documents_to_batch, new_document
from corpus.storage import (TMP_MARK, Layout, PartWriter, StorePath, layout_for, part_is_current, read_part_stats,
                            write_table_atomic)
from tests.s3server import files, s3_bucket

DOCS = [new_document("c4", f"sample:{i}", f"document number {i} " * 12) for i in range(40)]


@pytest.fixture(params=["subtree", "s3"])
def store(request, tmp_path, monkeypatch):
    """(a Layout whose part trees are on the filesystem, the filesystem, the trees' root path on it)."""
    if request.param == "subtree":
        (tmp_path / "store").mkdir()
        fs = pafs.SubTreeFileSystem(str(tmp_path / "store"), pafs.LocalFileSystem())
        yield Layout(tmp_path / "local", StorePath("data", fs)), fs, "data"
        return
    with s3_bucket(monkeypatch) as fs:
        monkeypatch.setenv("CORPUS_LOCAL_DIR", str(tmp_path / "local"))
        yield layout_for("s3://corpus/data"), fs, "corpus/data"


def _write_part(layout: Layout, part: str, fail: bool = False) -> PartWriter:
    with PartWriter(layout, "ingest", "c4", part, f"fp-{part}") as writer:
        writer.count_in(len(DOCS), 1000)
        writer.write(documents_to_batch(DOCS[:30]))
        writer.drop(pa.table({"id": [d["id"] for d in DOCS[30:]], "source": ["c4"] * 10, "stage": ["ingest"] * 10,
                              "reason": ["short"] * 10, "detail": [None] * 10}))
        if fail:
            raise RuntimeError("the reader broke")
    return writer


def _local_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_part_on_the_store_is_byte_identical_to_a_local_one_and_current(store, tmp_path):
    layout, fs, root = store
    _write_part(layout, "p1")
    _write_part(Layout(tmp_path / "disk"), "p1")
    assert files(fs, root) == _local_files(tmp_path / "disk")
    assert layout.docs_parts("ingest", "c4") == [layout.part("docs", "ingest", "c4", "p1")]
    assert part_is_current(layout.part("docs", "ingest", "c4", "p1"), "fp-p1")
    assert not part_is_current(layout.part("docs", "ingest", "c4", "p1"), "another fingerprint")
    stats = read_part_stats(layout, "ingest", "c4", "p1")
    assert (stats.docs_in, stats.docs_out, stats.drop_reasons) == (40, 30, {"short": 10})
    assert not (tmp_path / "local" / "docs").exists()  # the local directory holds none of the trees


def test_a_failed_part_leaves_no_key_and_stale_temps_go(store):
    layout, fs, root = store
    with pytest.raises(RuntimeError):
        _write_part(layout, "p1", fail=True)
    assert files(fs, root) == {}
    stale = layout.part("dropped", "ingest", "c4", "p2").with_name(f"p2.parquet{TMP_MARK}deadbeef")
    write_table_atomic(stale, pa.table({"x": [1]}))  # what a run killed between write and move leaves
    _write_part(layout, "p3")
    assert layout.remove_stale_temps("ingest", "c4") == 1
    assert sorted(files(fs, root)) == [f"{tree}/ingest/c4/p3.parquet" for tree in ("docs", "dropped", "funnel")]


def test_clear_stage_removes_parts_whose_input_is_gone(store):
    layout, fs, root = store
    for part in ("a", "b"):
        _write_part(layout, part)
    layout.clear_stage("ingest", "c4", keep_parts=["b"])
    assert [p.name for p in layout.docs_parts("ingest", "c4")] == ["b.parquet"]
    assert sorted(files(fs, root)) == [f"{tree}/ingest/c4/b.parquet" for tree in ("docs", "dropped", "funnel")]
    assert layout.parts_pattern("docs", "ingest").endswith("data/docs/ingest/*/*.parquet")
    assert layout.parts_pattern("docs", "near_dedup") is None


def test_a_data_root_uri_puts_the_trees_on_its_filesystem_and_the_rest_in_the_local_dir(tmp_path, monkeypatch):
    with s3_bucket(monkeypatch):
        monkeypatch.setenv("CORPUS_LOCAL_DIR", str(tmp_path / "scratch"))
        layout = layout_for("s3://corpus/some/prefix/")
        assert (layout.store.path, layout.store.fs.type_name, str(layout.data)) == (
            "corpus/some/prefix", "s3", "s3://corpus/some/prefix")
        assert layout.root == tmp_path / "scratch" and layout.catalog == tmp_path / "scratch" / "catalog.duckdb"
    assert layout_for(f"file://{tmp_path}/d") == Layout(tmp_path / "d")  # a local URI is a plain local root
    assert layout_for(str(tmp_path / "d")) == Layout(tmp_path / "d")
