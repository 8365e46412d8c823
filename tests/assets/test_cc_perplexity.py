"""cc_perplexity (and perplexity_models with CCNet's release format) materialized in-process on English
pages of tests/web_pages.py: the kept share at 1, 30 and 3,000 pages, boilerplate dropped, where each
language's cut-offs came from, and the snapshot's cut-off table reused by a later run."""
import shutil

import dagster as dg
import pyarrow.parquet as pq
import pytest

from assets.cc_perplexity import cc_perplexity
from assets.resources import CorpusStorage
from corpus.filters import perplexity as ppl
from corpus.schema import new_document
from corpus.storage import Layout
from quality_models import kenlm_model, store
from quality_models.perplexity_assets import perplexity_models
from tests import web_pages
from tests.httpserver import serve
from tests.quality_models.test_kenlm_model import ccnet_release, shared_root, trained_models, write_parts  # noqa: F401 (fixture)


def _materialize(root, assets, run_config=None, raise_on_error=True):
    return dg.materialize(assets, resources={"corpus_storage": CorpusStorage(data_root=str(root))},
                          run_config=run_config or {}, raise_on_error=raise_on_error)


def _metadata(result) -> dict:
    return {k: v.value for k, v in result.asset_materializations_for_node("cc_perplexity")[0].metadata.items()}


def _langid_parts(root, texts, parts: int = 1) -> None:
    """Pages as language-identified English Common Crawl parts (what cc_language_id hands on)."""
    docs = [new_document("commoncrawl", f"page:{i}", text, lang="en", lang_score=0.99) for i, text in enumerate(texts)]
    write_parts(root, "langid", "commoncrawl", {f"part-{k:02d}": docs[k::parts] for k in range(parts)})


@pytest.fixture(scope="module")
def trained(samples_dir, tmp_path_factory):
    return trained_models(str(samples_dir), str(shared_root(tmp_path_factory)))


def _with_trained_model(root, trained) -> None:
    folder, manifest = trained
    layout = Layout(root)
    shutil.copytree(folder, layout.models / kenlm_model.NAME / manifest["version"])
    store.set_current(layout.models, kenlm_model.NAME, manifest["version"])


@pytest.mark.parametrize("size, origin, kept, reused", [
    (1, ppl.WEB_REFERENCE, 0, []),        # the first evaluation page: tail bucket
    (30, ppl.WEB_REFERENCE, 15, []),      # 0.50
    (3000, ppl.SNAPSHOT_PERCENTILES, 1800, ["en"]),  # the snapshot's own 60th percentile: 0.60
])
def test_kept_share_and_cutoff_origin_at_1_30_and_3000_pages(size, origin, kept, reused, tmp_path, samples_dir, trained):
    root = tmp_path / "data"
    _with_trained_model(root, trained)
    _langid_parts(root, web_pages.english_pages(samples_dir, size, split="evaluation"), parts=min(size, 4))
    md = _metadata(_materialize(root, [cc_perplexity]))
    assert md["docs_in"] == size and md["docs_out"] == kept, md["docs_out"]
    assert md["model_kind"] == "trained" and md["cutoffs_mode"] == "auto"
    en = md["cutoff_origin"]["local"]["en"]
    assert en["origin"] == origin
    assert en["docs"] == (size if origin == ppl.SNAPSHOT_PERCENTILES else 143)  # the web reference: 143 pages
    table = Layout(root).models / "perplexity_cutoffs" / "local"
    assert [p.parent for p in table.glob("*.json")] == [table] and md["cutoffs_reused"] == {"local": []}
    again = _metadata(_materialize(root, [cc_perplexity]))  # a later run of the same snapshot
    assert again["cutoffs_reused"] == {"local": reused} and again["cutoff_origin"] == md["cutoff_origin"]
    # the bucket counts come from the parts' counters: the same from the parts the rerun skipped
    en_buckets = md["bucket_counts"]["local"]["en"]
    assert en_buckets["head"] + en_buckets["middle"] == kept and sum(en_buckets.values()) == size
    assert (again["parts_skipped"], again["bucket_counts"], again["no_lm_for_lang"]) == (min(size, 4), md["bucket_counts"], 0)
    docs = pq.read_table(Layout(root).root / "docs" / "perplexity" / "commoncrawl")
    assert set(docs.column("bucket").to_pylist()) <= {"head", "middle"} and docs.column("perplexity").null_count == 0


def test_boilerplate_pages_are_all_dropped_as_tail(tmp_path, samples_dir, trained):
    root = tmp_path / "data"
    _with_trained_model(root, trained)
    _langid_parts(root, [t for _, t in web_pages.boilerplate_pages(samples_dir)])
    md = _metadata(_materialize(root, [cc_perplexity]))
    assert md["docs_in"] == 30 and md["docs_out"] == 0
    dropped = pq.read_table(Layout(root).root / "dropped" / "perplexity" / "commoncrawl")
    assert set(dropped.column("reason").to_pylist()) == {ppl.DROP_TAIL}


def test_ccnet_release_from_a_loopback_url_uses_published_cutoffs_and_trained_models_refuse_them(tmp_path, samples_dir,
                                                                                              trained, ccnet_release):
    release = ccnet_release
    root = tmp_path / "data"
    _langid_parts(root, web_pages.english_pages(samples_dir, 30, split="evaluation"))
    with serve(release) as (url, hits):
        result = _materialize(root, [perplexity_models], {"ops": {"perplexity_models": {"config": {"ccnet_models": url}}}})
    models_md = result.asset_materializations_for_node("perplexity_models")[0].metadata
    assert models_md["kind"].value == "ccnet" and models_md["source"].value == url and len(hits) == 2
    md = _metadata(_materialize(root, [cc_perplexity]))
    assert md["model_kind"] == "ccnet"
    assert md["cutoff_origin"]["local"]["en"] == {"origin": ppl.CCNET_PUBLISHED, "docs": 0, "cutoffs": [340.0, 520.0]}
    other = tmp_path / "trained"
    _with_trained_model(other, trained)
    _langid_parts(other, ["x" * 400])
    failed = _materialize(other, [cc_perplexity], {"ops": {"cc_perplexity": {"config": {"cutoffs": "ccnet"}}}},
                          raise_on_error=False)
    assert not failed.success
    assert "belong to CCNet's released models" in str(failed.all_events)


def test_cutoffs_are_per_snapshot_and_a_new_snapshot_leaves_the_earlier_parts_unchanged(tmp_path, samples_dir, trained):
    root = tmp_path / "data"
    _with_trained_model(root, trained)
    pages = web_pages.english_pages(samples_dir, 400, split="evaluation")
    docs = [new_document("commoncrawl", f"page:{i}", text, lang="en", lang_score=0.99) for i, text in enumerate(pages)]
    old = {f"crawl-data__CC-MAIN-2024-10__segments__s{k}__wet__f.warc.wet.gz": docs[k:300:2] for k in range(2)}
    write_parts(root, "langid", "commoncrawl", old)
    first = _metadata(_materialize(root, [cc_perplexity]))
    assert first["snapshots"] == ["CC-MAIN-2024-10"] and first["parts_computed"] == 2
    out = Layout(root).root / "docs" / "perplexity" / "commoncrawl"
    before = {p.name: p.read_bytes() for p in out.glob("*.parquet")}
    # a newer snapshot of the last 100 pages only: its 60th percentile is its own
    write_parts(root, "langid", "commoncrawl", {"crawl-data__CC-MAIN-2024-18__segments__s0__wet__f.warc.wet.gz": docs[300:]})
    second = _metadata(_materialize(root, [cc_perplexity]))
    assert second["snapshots"] == ["CC-MAIN-2024-10", "CC-MAIN-2024-18"]
    assert (second["parts_computed"], second["parts_skipped"]) == (1, 2)
    origin = second["cutoff_origin"]
    assert origin["CC-MAIN-2024-10"] == first["cutoff_origin"]["CC-MAIN-2024-10"]
    assert origin["CC-MAIN-2024-10"]["en"]["docs"] == 300 and origin["CC-MAIN-2024-18"]["en"]["docs"] == 100
    assert origin["CC-MAIN-2024-18"]["en"]["origin"] == ppl.SNAPSHOT_PERCENTILES
    assert origin["CC-MAIN-2024-18"]["en"]["cutoffs"] != origin["CC-MAIN-2024-10"]["en"]["cutoffs"]
    assert {n: (out / n).read_bytes() for n in before} == before
    assert sorted(p.parent.name for p in (Layout(root).models / "perplexity_cutoffs").glob("*/*.json")) == [
        "CC-MAIN-2024-10", "CC-MAIN-2024-18"]
