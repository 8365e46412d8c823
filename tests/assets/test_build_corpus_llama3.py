"""The main job on the real samples under CORPUS_RECIPE=llama3: every LLaMA-3 stage shows in the funnel
per source, its reasons in `dropped`, and web text is still kept."""
import duckdb
import pytest

from corpus import presets
from pipelines import defs


@pytest.fixture(scope="module")
def built(tmp_path_factory, samples_dir):
    root = tmp_path_factory.mktemp("build_llama3") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CORPUS_RECIPE", "llama3")
        mp.setenv("CORPUS_DATA_ROOT", str(root))
        mp.setenv("CORPUS_RAW_DIR", str(samples_dir))
        assert defs.resolve_job_def("build_corpus").execute_in_process().success
    return duckdb.connect(str(root / "catalog.duckdb"), read_only=True)


@pytest.mark.slow
def test_llama3_funnel_reasons_and_kept_web_text(built):
    llama3 = presets.preset("llama3")
    funnel = {}
    for source, stage, docs_in, docs_out in built.execute(
            "SELECT source, stage, docs_in, docs_out FROM funnel").fetchall():  # the view sorts by funnel order
        funnel.setdefault(source, []).append((stage, docs_in, docs_out))
    for source in ("commoncrawl", "c4"):
        assert [s for s, _, _ in funnel[source]] == list(llama3.stages(source)), source
    # each stage reads what the previous one kept (measured with the dagster CLI on the samples)
    cc = funnel["commoncrawl"]
    assert cc == [("ingest", 1088, 318), ("url_filter", 318, 318), ("line_dedup", 318, 276), ("langid", 276, 224),
                  ("gopher", 224, 174), ("c4_rules", 174, 147), ("fineweb_rules", 147, 145), ("perplexity", 145, 87),
                  ("wikiref", 87, 74), ("quality_classifier", 74, 8), ("exact_dedup", 8, 8), ("near_dedup", 8, 8),
                  ("semantic_dedup", 8, 8)]
    reasons = dict(((stage, reason), n) for stage, reason, n in built.execute(
        "SELECT stage, reason, count(*) FROM dropped WHERE source = 'commoncrawl' GROUP BY ALL").fetchall())
    for stage in ("gopher", "c4_rules", "fineweb_rules", "quality_classifier"):
        assert any(s == stage for s, _ in reasons), (stage, reasons)
    assert all(r.startswith(stage.split("_")[0]) for (stage, r) in reasons if stage in ("gopher", "c4_rules", "fineweb_rules"))
    kept = built.execute("SELECT count(*) FROM documents WHERE source = 'commoncrawl'").fetchone()[0]
    assert kept == cc[-1][2] > 0
