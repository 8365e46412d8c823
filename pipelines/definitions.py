"""The one place that builds ``Definitions``: assets, checks, jobs, sensors (automation included), resources."""
from __future__ import annotations

import dagster as dg

from assets import (catalog, cc_language_id, cc_line_dedup, cc_perplexity, cc_wikiref, dedup, sources,
                    semantic_dedup, tokens, web_heuristics, web_quality_classifier, web_url_filter)
from assets import checks, commoncrawl_snapshot, raw_sources
from assets.code_versions import with_code_versions
from assets.commoncrawl_snapshot import CommonCrawlRemote
from assets.resources import CorpusStorage, RawInputs
from pipelines import partitions, sensors
from pipelines.automation import corpus_automation_sensor, with_automation
from pipelines.executor import inputs_checked_executor
from quality_models import (langid_assets, perplexity_assets, quality_classifier_assets, semantic_embeddings_assets,
                            wikiref_assets)
from training import assets as training_assets

ASSET_MODULES = [
    sources, web_url_filter, cc_line_dedup, cc_language_id, web_heuristics, cc_perplexity, cc_wikiref,
    quality_classifier_assets, web_quality_classifier,
    dedup, semantic_dedup, catalog, tokens, training_assets, langid_assets, perplexity_assets, wikiref_assets,
    semantic_embeddings_assets,
]

# the blocking quality checks, the raw inputs (source assets)
ASSET_MODULES += [checks, raw_sources]

# code_version: the fingerprint of the code that computes each asset (assets/code_versions.py); the tail of
# the graph keeps itself up to date (pipelines/automation.py)
all_assets = with_automation(with_code_versions(dg.load_assets_from_modules(ASSET_MODULES)))
all_checks = dg.load_asset_checks_from_modules(ASSET_MODULES)

TRAINING_GROUP = "training"

build_corpus = dg.define_asset_job(
    "build_corpus",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups(TRAINING_GROUP, dedup.SCALE_OUT_GROUP),
    description="Ingest -> clean -> filter -> dedup -> mixture -> token shards, with the catalog refreshed. "
                "Without a partition: commoncrawl_documents ingests every file present (one partition each).",
    tags={"corpus/stage": "corpus-wide", **commoncrawl_snapshot.whole_ingest_tags()},
    executor_def=inputs_checked_executor,
)
near_dedup_scale_out = dg.define_asset_job(
    "near_dedup_scale_out",
    selection=dg.AssetSelection.groups(dedup.SCALE_OUT_GROUP),
    description="One run per LSH band partition (after lsh_band_table), on any machine; near_duplicates merges.",
)
pretrain = dg.define_asset_job(
    "pretrain",
    selection=dg.AssetSelection.groups(TRAINING_GROUP),
    description="Train the small LLaMA-style model on the token shards.",
)

defs = dg.Definitions(
    assets=all_assets,
    asset_checks=all_checks,
    jobs=[build_corpus, pretrain, near_dedup_scale_out, partitions.ingest_commoncrawl_files],
    sensors=[sensors.commoncrawl_snapshot_sensor, sensors.raw_files_sensor, corpus_automation_sensor],
    resources={"corpus_storage": CorpusStorage(), "raw_inputs": RawInputs(), "commoncrawl_remote": CommonCrawlRemote()},
)
