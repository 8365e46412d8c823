"""CCNet line-level dedup across a group of shards of one snapshot (the logic: ``corpus.filters.line_dedup``).

Pass 1 writes each ingest part's line hashes and keys to ``work/line_dedup/commoncrawl/{hashes,keys}/``;
the parts are grouped within their snapshot (``corpus.snapshots``), ``group_size`` parts a group, and each
group is counted bucket by bucket (``count_bucket``, each bucket on its own) into
``work/line_dedup/commoncrawl/groups/<snapshot>/<n>.parquet``, kept while the group's parts are unchanged;
pass 2 rewrites each part without its group's duplicate lines. A part's fingerprint depends on its own
group only, so a new snapshot's files leave every earlier part, and its counts, as they were."""

import time

import dagster as dg

from assets.config_base import ValidatedConfig, config_class, keyword_fields
from assets.resources import CorpusStorage, DUCKDB_POOL
from assets.stages import run_units, stage_metadata, step_summary
from corpus import presets
from corpus.filters import line_dedup

SOURCE = line_dedup.SOURCE


LineDedupConfig = config_class(
    "LineDedupConfig", __name__, keyword_fields(line_dedup.LineDedupStage.plan, skip=("summary",)), ValidatedConfig,
    doc="The keyword arguments of ``LineDedupStage.plan`` (defaults: corpus/recipe.py).",
    bounds={"group_size": dict(ge=0), "hash_buckets": dict(ge=1)})


@dg.asset(group_name="ccnet", deps=presets.asset_deps(line_dedup.STAGE), kinds={"python", "duckdb", "parquet"}, pool=DUCKDB_POOL)
def cc_line_dedup(context: dg.AssetExecutionContext, config: LineDedupConfig, corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """CCNet line-level dedup: a line in two or more documents of a shard group (within a snapshot) is
    removed everywhere."""
    started = time.monotonic()
    layout = corpus_storage.layout()
    parts = layout.docs_parts(corpus_storage.preset().upstream(SOURCE, line_dedup.STAGE), SOURCE)
    stage = line_dedup.LineDedupStage.plan(layout.work / line_dedup.STAGE / SOURCE, parts, context.log,
                                           step_summary(context), **config.model_dump())
    stats = run_units(context, layout, line_dedup.STAGE, SOURCE, stage.units)
    return dg.MaterializeResult(metadata=stage_metadata(stats, started, **stage.report(stats)))
