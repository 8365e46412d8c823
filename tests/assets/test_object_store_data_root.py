"""The data root on S3 (an in-process moto server on the loopback): the real C4 samples through ingest,
exact and near dedup and the catalog write the same bytes as on a local disk, a rerun reads the
fingerprints back from S3 and skips every part, the blocking checks pass reading the bucket, and the
catalog reads its views from the bucket."""
import dagster as dg
import pytest

from assets import checks
from assets.catalog import corpus_catalog
from assets.catalog import curated_documents
from assets.dedup import exact_dedup, lsh_band_table, minhash_signatures, near_dedup, near_duplicates
from assets.resources import CorpusStorage, RawInputs
from assets.sources import ingest_assets
from corpus import catalog, storage
from tests.s3server import documents, files, local_trees, s3_bucket

c4_documents = next(a for a in ingest_assets if a.key == dg.AssetKey("c4_documents"))
ASSETS = [c4_documents, exact_dedup, minhash_signatures, lsh_band_table, near_duplicates, near_dedup, curated_documents, corpus_catalog]
CHECKS = [checks.curated_ids_unique_and_text_present, checks.curated_languages_within_bounds,
          checks.exact_dedup_rate_within_bounds, checks.catalog_agrees_with_funnel]
DATA_URI = "s3://corpus/data"


def _run(data_root: str, raw) -> None:
    result = dg.materialize([*ASSETS, *CHECKS], resources={"corpus_storage": CorpusStorage(data_root=data_root),
                                                           "raw_inputs": RawInputs(raw_dir=str(raw))})
    assert result.success
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations == {c.check_key.name: True for c in CHECKS}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, samples_dir):
    """The same assets on a local data root and on s3://corpus/data (local dir for models/work beside)."""
    tmp = tmp_path_factory.mktemp("object_store")
    _run(str(tmp / "local"), samples_dir)
    with pytest.MonkeyPatch.context() as mp, s3_bucket(mp) as fs:
        mp.setenv("CORPUS_LOCAL_DIR", str(tmp / "s3-local"))
        _run(DATA_URI, samples_dir)
        yield storage.Layout(tmp / "local"), storage.layout_for(DATA_URI), fs


def test_the_parts_on_s3_are_byte_identical_to_a_local_run(runs):
    local, remote, fs = runs
    on_s3 = files(fs, "corpus/data")
    expected = local_trees(local.root)
    assert {"docs/ingest/c4", "docs/exact_dedup/c4", "docs/near_dedup/c4"} <= {k.rsplit("/", 1)[0] for k in expected}
    assert on_s3 == expected  # only the part trees are in the bucket, no temp key among them
    assert not any(storage.TMP_MARK in key for key in on_s3)
    assert not (remote.root / "docs").exists()  # nothing of the trees on the local side


def test_a_rerun_reads_the_fingerprints_from_s3_and_writes_no_part(runs, samples_dir, monkeypatch):
    _, _, fs = runs
    before = files(fs, "corpus/data")

    def refuse(self):
        raise AssertionError(f"{self.stage}/{self.source}/{self.part} was recomputed")

    monkeypatch.setattr(storage.PartWriter, "__enter__", refuse)
    _run(DATA_URI, samples_dir)
    assert files(fs, "corpus/data") == before


def test_the_catalog_reads_the_same_documents_from_s3(runs):
    local, remote, _ = runs
    rows = documents(remote)
    assert rows and rows == documents(local)
    con = catalog.connect(remote, read_only=True)
    try:
        (sql,) = con.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'documents'").fetchone()
    finally:
        con.close()
    assert "s3://corpus/data/docs/near_dedup/*/*.parquet" in sql
