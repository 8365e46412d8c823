import dagster as dg

from pipelines import defs


def test_definitions_load_with_jobs_and_the_full_graph():
    assert {j.name for j in defs.resolve_all_job_defs()} >= {"build_corpus", "pretrain"}
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    for source in ("commoncrawl", "c4", "github", "wikipedia", "books", "arxiv", "stackexchange"):
        assert f"{source}_documents" in keys
    assert {"cc_line_dedup", "cc_language_id", "cc_perplexity", "cc_quality_filter", "exact_dedup",
            "near_duplicates", "curated_documents", "corpus_catalog"} <= keys


def test_build_corpus_excludes_training_and_pretrain_is_training_only():
    graph = defs.resolve_asset_graph()
    build = defs.resolve_job_def("build_corpus").asset_layer.selected_asset_keys
    pretrain = defs.resolve_job_def("pretrain").asset_layer.selected_asset_keys
    assert dg.AssetKey("c4_documents") in build and dg.AssetKey("corpus_catalog") in build
    assert not (build & pretrain)
    assert all(graph.get(k).group_name == "training" for k in pretrain)
