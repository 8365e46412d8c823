"""The URL filter and the quality classifier as Dagster stages on real sample pages: under llama3 they filter
the previous active stage with exact reasons (lists and model from run config / the model asset); under
llama1 (the default) they write and train nothing and say so."""
import math

import dagster as dg
import pytest

from corpus import recipe
from corpus.storage import Layout, read_table
from pipelines import defs
from tests.assets.test_recipe_stages import LLAMA3
from tests.corpus.filters.test_url import ut1_archive
from tests.quality_models.test_kenlm_model import sample_docs, write_parts


def _run(assets, run_config=None):
    return defs.resolve_job_def("build_corpus").execute_in_process(
        asset_selection=[dg.AssetKey(a) for a in assets], run_config=run_config or {})


def _dropped(layout, stage, source="commoncrawl"):
    return {r["id"]: r for p in layout.parts("dropped", stage, source) for r in read_table(p).to_pylist()}


def test_url_filter_stage_under_llama3_then_llama1(tmp_path, samples_dir, monkeypatch):
    monkeypatch.setenv("CORPUS_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.delenv("CORPUS_RECIPE", raising=False)
    layout = Layout(tmp_path / "data")
    parts = sample_docs("commoncrawl", str(samples_dir))
    write_parts(tmp_path / "data", "ingest", "commoncrawl", parts)
    by_url = {d["url"]: d["id"] for docs in parts.values() for d in docs}
    (tmp_path / "dirty.txt").write_text("porn\n")
    (tmp_path / "banned.txt").write_text("orgy\n")
    config = {"blocklists": str(ut1_archive(tmp_path / "blacklists.tar.gz")), "categories": ["adult"],
              "banned_words": str(tmp_path / "banned.txt"), "dirty_words": str(tmp_path / "dirty.txt")}
    result = _run(["web_url_filter"], {**LLAMA3, "ops": {"web_url_filter": {"config": config}}})
    assert result.success
    md = result.asset_materializations_for_node("web_url_filter")[0].metadata
    dropped = _dropped(layout, "url_filter")
    assert md["recipe"].value == "llama3" and md["docs_in"].value == 318 and md["docs_dropped"].value == len(dropped)
    assert {(r["reason"], r["detail"]) for r in dropped.values()} >= {
        ("url_blocklist:adult", "domain=psb556.com"), ("url_blocklist:adult", "url=qsl.net/vk2jem")}
    assert dropped[by_url["http://robins-agency.com/teens/teen-orgy.html"]]["reason"] == "url_blocklist:adult"
    assert dropped[by_url["http://www.archive.org/details/movies"]]["reason"] == "dirty_words"
    assert md["docs_out"].value == 318 - len(dropped) > 250  # web text is still kept
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["commoncrawl_survives_url_filter"].passed

    result = _run(["web_url_filter"])  # llama1: nothing written, the llama3 parts removed
    assert result.success
    assert result.asset_materializations_for_node("web_url_filter")[0].metadata["skipped"].value == "recipe llama1"
    assert [layout.parts(tree, "url_filter", "commoncrawl") for tree in ("docs", "dropped", "funnel")] == [[], [], []]


@pytest.mark.slow
def test_quality_classifier_model_and_stage_under_llama3_then_llama1(tmp_path, samples_dir, monkeypatch):
    monkeypatch.setenv("CORPUS_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.delenv("CORPUS_RECIPE", raising=False)
    layout = Layout(tmp_path / "data")
    for source in recipe.QUALITY_CLASSIFIER_POSITIVE_SOURCES:
        write_parts(tmp_path / "data", "ingest", source, sample_docs(source, str(samples_dir)))
    # real web pages as the langid stage's output (the negatives) and as the wikiref stage's (the stage before
    # the classifier under llama3, the pages it filters)
    for stage in ("langid", "wikiref"):
        write_parts(tmp_path / "data", stage, "commoncrawl", sample_docs("commoncrawl", str(samples_dir)))
    result = _run(["quality_classifier_model", "web_quality_classifier"], LLAMA3)
    assert result.success
    model_md = result.asset_materializations_for_node("quality_classifier_model")[0].metadata
    assert model_md["negative_stages"].value == {"commoncrawl": "langid"} and model_md["heldout_document_auc"].value >= 0.9
    assert model_md["heldout_document_score_histogram"].value.startswith("![")
    md = result.asset_materializations_for_node("web_quality_classifier")[0].metadata
    kept = [t for p in layout.docs_parts("quality_classifier", "commoncrawl") for t in [read_table(p)]]
    scores = [s for t in kept for s in t.column("quality_classifier_score").to_pylist()]
    threshold = md["min_score_commoncrawl"].value
    assert md["docs_in"].value == 318 and md["docs_out"].value == len(scores) == math.ceil(0.1 * 318)
    assert None not in scores and min(scores) >= threshold - 1e-6
    reasons = {r["reason"] for r in _dropped(layout, "quality_classifier").values()}
    assert reasons == {f"quality_classifier<{threshold:.4g}"}
    assert "score_histogram_commoncrawl" in md and "drop_reasons_plot" in md
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["commoncrawl_survives_quality_classifier"].passed

    result = _run(["quality_classifier_model", "web_quality_classifier"])
    assert result.success
    for node in ("quality_classifier_model", "web_quality_classifier"):
        assert result.asset_materializations_for_node(node)[0].metadata["skipped"].value == "recipe llama1"
    assert layout.parts("docs", "quality_classifier", "commoncrawl") == []
