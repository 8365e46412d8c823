"""The main job, in-process, on the real samples: the catalog contract and byte-identical reruns."""
from pathlib import Path

import duckdb
import pytest

from corpus.catalog import STAGE_ORDER
from pipelines import defs


def run_build_corpus(data_root: Path, samples_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("CORPUS_DATA_ROOT", str(data_root))
    monkeypatch.setenv("CORPUS_RAW_DIR", str(samples_dir))
    result = defs.resolve_job_def("build_corpus").execute_in_process()
    assert result.success


@pytest.fixture(scope="module")
def built(tmp_path_factory, samples_dir):
    root = tmp_path_factory.mktemp("build") / "data"
    with pytest.MonkeyPatch.context() as mp:
        run_build_corpus(root, samples_dir, mp)
    return root


def _catalog(root: Path):
    return duckdb.connect(str(root / "catalog.duckdb"), read_only=True)


def test_catalog_documents_have_c4_rows_with_unique_ids(built):
    con = _catalog(built)
    n, unique = con.execute("SELECT count(*), count(DISTINCT id) FROM documents WHERE source = 'c4'").fetchone()
    assert n == 30 and unique == 30
    total, total_unique = con.execute("SELECT count(*), count(DISTINCT id) FROM documents").fetchone()
    assert total == total_unique
    assert con.execute("SELECT count(*) FROM documents WHERE text IS NULL OR length(trim(text)) = 0").fetchone()[0] == 0


def test_funnel_has_a_row_per_stage(built):
    con = _catalog(built)
    stages = [r[0] for r in con.execute("SELECT stage FROM funnel WHERE source = 'c4'").fetchall()]
    assert stages == ["ingest", "exact_dedup", "near_dedup"]
    cc = {r[0] for r in con.execute("SELECT stage FROM funnel WHERE source = 'commoncrawl'").fetchall()}
    assert cc <= set(STAGE_ORDER)
    for docs_in, docs_out in con.execute("SELECT docs_in, docs_out FROM funnel").fetchall():
        assert docs_out <= docs_in
    # the funnel's numbers agree with the rows the catalog shows
    funnel_out = con.execute("SELECT sum(docs_out) FROM funnel WHERE stage = 'near_dedup'").fetchone()[0]
    assert funnel_out == con.execute("SELECT count(*) FROM documents").fetchone()[0]


def test_a_second_run_in_a_fresh_data_root_gives_byte_identical_parquet(built, tmp_path, samples_dir, monkeypatch):
    again = tmp_path / "data"
    run_build_corpus(again, samples_dir, monkeypatch)
    first = {p.relative_to(built): p.read_bytes() for p in built.rglob("*.parquet")}
    second = {p.relative_to(again): p.read_bytes() for p in again.rglob("*.parquet")}
    assert first.keys() == second.keys() and first
    different = [str(k) for k in first if first[k] != second[k]]
    assert different == []
    assert not [p for p in again.rglob("*.tmp-*")]
