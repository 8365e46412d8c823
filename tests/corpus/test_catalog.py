"""The catalog against its funnel (``corpus.catalog.funnel_agreement``) on the real C4 samples: the three files
ingested and filtered by the Gopher rules as the curated stage, then the catalog broken in the ways the
``catalog_agrees_with_funnel`` check must catch."""
from pathlib import Path

import duckdb
import pytest

from corpus import catalog
from corpus.filters.gopher import GopherFilter
from corpus.part_runners import filter_part, ingest_part
from corpus.sources import c4
from corpus.storage import Layout, PartWriter, iter_batches

SAMPLE_DOCS, CURATED_DOCS = 30, 26  # the three C4 sample files; what the Gopher rules keep of them


def _write_parts(root: Path, samples_dir: Path, filter_stage: str) -> Layout:
    """Each sample file ingested, then filtered into the curated stage by a filter that names ``filter_stage``
    in its dropped rows."""
    layout = Layout(root)
    for f in c4.discover_inputs(samples_dir / "c4"):
        with PartWriter(layout, "ingest", "c4", f.name, "test") as w:
            ingest_part(w, c4.read_documents(f, f.name))
        with PartWriter(layout, catalog.CURATED_STAGE, "c4", f.name, "test") as w:
            filter_part(w, iter_batches([layout.part("docs", "ingest", "c4", f.name)]), GopherFilter("c4", stage=filter_stage))
    catalog.refresh(layout)
    return layout


@pytest.fixture
def curated(tmp_path, samples_dir) -> Layout:
    return _write_parts(tmp_path / "data", samples_dir, catalog.CURATED_STAGE)


def test_a_consistent_catalog_agrees_with_its_funnel(curated):
    assert catalog.funnel_agreement(curated) == catalog.FunnelAgreement(documents=CURATED_DOCS, dropped=SAMPLE_DOCS - CURATED_DOCS)
    con = duckdb.connect(str(curated.catalog), read_only=True)
    assert con.execute("SELECT reason, count(*) FROM dropped GROUP BY ALL ORDER BY ALL").fetchall() == [
        ("gopher_too_few_words", 3), ("gopher_top_3_gram", 1)]
    con.close()


def test_a_missing_curated_part_is_a_per_source_document_mismatch(curated):
    curated.part("docs", catalog.CURATED_STAGE, "c4", "c4-sample.01.json.gz").unlink()  # its 9 documents
    assert catalog.funnel_agreement(curated).problems == [f"c4: {CURATED_DOCS - 9} documents vs funnel {CURATED_DOCS}"]


def test_drops_filed_under_another_stage_are_a_mismatch_of_both_stages(tmp_path, samples_dir):
    layout = _write_parts(tmp_path / "data", samples_dir, "gopher")
    assert catalog.funnel_agreement(layout).problems == ["c4/gopher: 4 dropped rows vs funnel 0",
                                                         "c4/near_dedup: 0 dropped rows vs funnel 4"]


def test_a_missing_view_is_named_and_nothing_else_is_counted(curated):
    con = duckdb.connect(str(curated.catalog))
    con.execute("DROP VIEW dropped")
    con.close()
    assert catalog.funnel_agreement(curated) == catalog.FunnelAgreement(missing_views=["dropped"])
