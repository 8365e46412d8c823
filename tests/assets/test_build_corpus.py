"""The main job, in-process, on the real samples: the catalog contract, and a second run, with the
data root on S3 (moto on the loopback), that writes the same bytes."""
from pathlib import Path

import duckdb
import pytest

from corpus import storage
from corpus.catalog import STAGE_ORDER
from corpus.tokens import read_manifest
from pipelines import defs
from tests.s3server import documents, files, s3_bucket

DATA_URI = "s3://corpus/data"


def run_build_corpus(data_root: Path | str, samples_dir: Path, monkeypatch) -> None:
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


def _parquet(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*.parquet")}


def test_a_second_run_on_s3_writes_byte_identical_parquet_shards_and_documents(built, tmp_path, samples_dir, monkeypatch):
    """Every stage with the part trees in a fresh bucket and the rest in a fresh CORPUS_LOCAL_DIR: the same
    Parquet bytes (part trees from the bucket, work/ tables from the local dir), shards and catalog rows."""
    local = tmp_path / "local"
    monkeypatch.setenv("CORPUS_LOCAL_DIR", str(local))
    with s3_bucket(monkeypatch) as fs:
        run_build_corpus(DATA_URI, samples_dir, monkeypatch)
        second = {**files(fs, "corpus/data"), **_parquet(local)}
        rows = documents(storage.Layout.from_env())
    first = _parquet(built)
    assert first.keys() == second.keys() and first
    different = [k for k in first if first[k] != second[k]]
    assert different == []
    assert not [k for k in second if storage.TMP_MARK in k]
    assert read_manifest(local / "shards") == read_manifest(built / "shards")
    assert rows and rows == documents(storage.Layout(built))


def test_english_common_crawl_pages_reach_documents_with_their_ccnet_columns(built):
    """The samples' English Common Crawl pages end in `documents`, each with its language, perplexity bucket and
    wiki-ref score set, inside the rules of the stages that set them; the kept fraction per stage is printed."""
    import json

    from corpus import recipe
    from quality_models import kenlm_model

    con = _catalog(built)
    funnel = con.execute("SELECT stage, docs_in, docs_out FROM funnel WHERE source = 'commoncrawl'").fetchall()
    print("commoncrawl funnel:", ", ".join(f"{stage} {o}/{i} = {o / i:.3f}" for stage, i, o in funnel))
    assert [stage for stage, _, _ in funnel] == ["ingest", "line_dedup", "langid", "perplexity", "wikiref",
                                                 "exact_dedup", "near_dedup"]
    rule = json.loads((kenlm_model.current_dir(storage.Layout(built).models, "wikiref") / "manifest.json").read_text())
    rows = con.execute(
        "SELECT count(*), count(*) FILTER (lang = 'en'), count(lang_score), count(perplexity), count(bucket), "
        "count(quality_score), min(lang_score), list(DISTINCT bucket ORDER BY bucket), "
        "count(*) FILTER (quality_score >= CAST(? AS FLOAT)) FROM documents WHERE source = 'commoncrawl'",
        [rule["keep_rule"]["min_score"]]).fetchone()
    n, english, lang_score, perplexity, bucket, quality_score, min_lang_score, buckets, over_rule = rows
    assert n == 88 == funnel[-1][2]  # pinned: the build is deterministic on the samples
    assert english == lang_score == perplexity == bucket == quality_score == over_rule == n
    assert min_lang_score >= recipe.LANGID_MIN_SCORE
    assert set(buckets) <= set(recipe.PERPLEXITY_KEEP_BUCKETS)
