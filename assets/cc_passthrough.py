"""A CommonCrawl stage that keeps every document: the shape each CCNet filter asset starts from."""

import time

import dagster as dg

from assets.resources import CorpusStorage
from assets.stages import code_fingerprint, filter_units, run_units, stage_metadata
from corpus import stage as stage_module
from corpus.stage import passthrough

SOURCE = "commoncrawl"


def passthrough_stage(name: str, stage: str, upstream_asset: str, upstream_stage: str, description: str) -> dg.AssetsDefinition:
    @dg.asset(name=name, group_name="ccnet", deps=[upstream_asset], description=description, kinds={"python", "parquet"})
    def _stage(context: dg.AssetExecutionContext, corpus_storage: CorpusStorage) -> dg.MaterializeResult:
        started = time.monotonic()
        layout = corpus_storage.layout()
        units = filter_units(layout, stage, SOURCE, upstream_stage, {}, lambda: passthrough, code_fingerprint(stage_module))
        stats = run_units(context, layout, stage, SOURCE, units)
        return dg.MaterializeResult(metadata=stage_metadata(stats, started))

    return _stage
