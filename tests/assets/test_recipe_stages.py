"""A per-part filter stage under both recipes (the web_gopher asset): llama3 filters the previous active
stage's parts with exact reasons; llama1 (the default) writes nothing, says so, and removes what a llama3
run left behind; the survival gate passes as skipped."""
import gzip
import json

import dagster as dg

from corpus.schema import documents_to_batch, new_document
from corpus.storage import Layout, PartWriter, read_table
from pipelines import defs

LLAMA3 = {"resources": {"corpus_storage": {"config": {"recipe": "llama3"}}}}


def _langid_part(layout: Layout, samples_dir) -> list[dict]:
    """Real C4 pages plus one too-short page, as a CommonCrawl part of the stage before gopher."""
    with gzip.open(samples_dir / "c4" / "c4-sample.01.json.gz", "rt", encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for line in fh if line.strip()]
    docs = [new_document("commoncrawl", f"p:{i}", t) for i, t in enumerate(texts)]
    docs.append(new_document("commoncrawl", "short", "Too short to keep, the end."))
    with PartWriter(layout, "langid", "commoncrawl", "p0", "fp-test") as w:
        batch = documents_to_batch(docs)
        w.count_in(batch.num_rows, sum(len(d["text"]) for d in docs))
        w.write(batch)
    return docs


def _run(run_config=None):
    return defs.resolve_job_def("build_corpus").execute_in_process(
        asset_selection=[dg.AssetKey("web_gopher")], run_config=run_config or {})


def test_gopher_stage_under_llama3_then_llama1(tmp_path, samples_dir, monkeypatch):
    monkeypatch.setenv("CORPUS_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.delenv("CORPUS_RECIPE", raising=False)
    layout = Layout(tmp_path / "data")
    docs = _langid_part(layout, samples_dir)

    result = _run(LLAMA3)
    assert result.success
    md = result.asset_materializations_for_node("web_gopher")[0].metadata
    kept = read_table(layout.part("docs", "gopher", "commoncrawl", "p0"))
    dropped = read_table(layout.part("dropped", "gopher", "commoncrawl", "p0")).to_pylist()
    assert md["recipe"].value == "llama3" and md["docs_in"].value == len(docs)
    assert md["docs_out"].value == kept.num_rows > 0 and md["docs_dropped"].value == len(dropped) > 0
    short = [r for r in dropped if r["id"] == docs[-1]["id"]]
    assert [(r["stage"], r["reason"], r["detail"]) for r in short] == [("gopher", "gopher_too_few_words", "6 vs 50")]
    assert "drop_reasons_plot" in md
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["commoncrawl_survives_gopher"].passed

    result = _run()  # the default recipe: llama1
    assert result.success
    md = result.asset_materializations_for_node("web_gopher")[0].metadata
    assert md["skipped"].value == "recipe llama1"
    assert [layout.parts(tree, "gopher", "commoncrawl") for tree in ("docs", "dropped", "funnel")] == [[], [], []]
    check = {e.check_name: e for e in result.get_asset_check_evaluations()}["commoncrawl_survives_gopher"]
    assert check.passed and check.description == "skipped: recipe llama1 does not run gopher on commoncrawl"


def test_an_unknown_recipe_fails_the_step(tmp_path, monkeypatch):
    monkeypatch.setenv("CORPUS_DATA_ROOT", str(tmp_path / "data"))
    result = defs.resolve_job_def("build_corpus").execute_in_process(
        asset_selection=[dg.AssetKey("web_gopher")], raise_on_error=False,
        run_config={"resources": {"corpus_storage": {"config": {"recipe": "llama2"}}}})
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "unknown recipe 'llama2'" in str(failure.message)
