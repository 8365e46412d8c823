import dagster as dg

from pipelines import defs


def test_definitions_load_with_jobs_and_the_full_graph():
    assert {j.name for j in defs.resolve_all_job_defs()} >= {"build_corpus", "pretrain"}
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    for source in ("commoncrawl", "c4", "github", "wikipedia", "books", "arxiv", "stackexchange"):
        assert f"{source}_documents" in keys
    assert {"cc_line_dedup", "cc_language_id", "cc_perplexity", "cc_wikiref", "exact_dedup",
            "near_duplicates", "curated_documents", "corpus_catalog"} <= keys


def test_build_corpus_excludes_training_and_pretrain_is_training_only():
    graph = defs.resolve_asset_graph()
    build = defs.resolve_job_def("build_corpus").asset_layer.selected_asset_keys
    pretrain = defs.resolve_job_def("pretrain").asset_layer.selected_asset_keys
    assert dg.AssetKey("c4_documents") in build and dg.AssetKey("corpus_catalog") in build
    assert not (build & pretrain)
    assert all(graph.get(k).group_name == "training" for k in pretrain)


def test_every_asset_has_a_code_version_from_the_code_that_computes_it():
    """The UI marks an asset unsynced when its code version changes: every materializable asset has one,
    the fingerprint of the files of its own code (an ingest asset: its reader, not another source's)."""
    from assets.code_versions import asset_code_version, compute_modules
    from corpus.sources import c4, github

    graph = defs.resolve_asset_graph()
    executable = [graph.get(k) for k in graph.get_all_asset_keys() if graph.get(k).is_executable]
    assert len(executable) >= 26
    assert [n.key.to_user_string() for n in executable if not n.code_version] == []
    by_key = {a.key.to_user_string(): a for a in defs.assets}
    c4_modules = compute_modules(by_key["c4_documents"].op.compute_fn.decorated_fn)
    assert c4 in c4_modules and github not in c4_modules
    assert graph.get(dg.AssetKey("c4_documents")).code_version == asset_code_version(by_key["c4_documents"])
    assert graph.get(dg.AssetKey("c4_documents")).code_version != graph.get(dg.AssetKey("github_documents")).code_version


def test_one_partitioned_commoncrawl_ingest_asset_and_near_duplicates_maps_all_band_partitions():
    """commoncrawl_documents is the one asset over the Common Crawl files (dynamic partitions, single-run
    backfills) and build_corpus runs it; near_duplicates depends on every band partition of the scale-out
    asset through a partition mapping, which build_corpus leaves out (near_duplicates computes what is missing)."""
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert "commoncrawl_file" not in keys
    cc = graph.get(dg.AssetKey("commoncrawl_documents"))
    assert cc.partitions_def.name == "commoncrawl_files" and cc.backfill_policy == dg.BackfillPolicy.single_run()
    near = graph.get(dg.AssetKey("near_duplicates"))
    assert near.parent_keys == {dg.AssetKey("lsh_band_table"), dg.AssetKey("lsh_band_partitions")}
    assert isinstance(graph.get_partition_mapping(near.key, dg.AssetKey("lsh_band_partitions")), dg.AllPartitionMapping)
    build = defs.resolve_job_def("build_corpus")
    assert cc.key in build.asset_layer.selected_asset_keys and near.key in build.asset_layer.selected_asset_keys
    assert dg.AssetKey("lsh_band_partitions") not in build.asset_layer.selected_asset_keys
    assert build.partitions_def.name == "commoncrawl_files"  # runs without a partition too: every file present
