"""The shared body of every document stage asset: run each part that is missing or stale, skip the
ones already complete, and report what happened as metadata."""

import time
from types import ModuleType
from typing import Any, Callable, Iterable, Sequence

import dagster as dg
import pyarrow as pa

from assets.resources import CorpusStorage
from corpus import presets
from corpus.filters.base import DocumentFilter
from corpus import executors
from corpus.executors import ExecutionSummary, PartJob, executor_from_env
from corpus.fingerprints import FingerprintCache
from corpus.plots import Markdown, as_markdown_image, bar_plot
from corpus.schema import DOCUMENT_SCHEMA
from corpus.part_runners import Unit, code_fingerprint, filter_units
from corpus.storage import Layout, PartStats, part_is_current, read_part_stats


def fingerprint_cache(layout: Layout) -> FingerprintCache:
    """The content fingerprints of raw inputs, kept between runs (a no-op rerun reads no raw byte)."""
    return FingerprintCache(layout.work / "content_fingerprints.sqlite")


def step_summary(context: dg.AssetExecutionContext) -> ExecutionSummary:
    """This step attempt's executor summary: its part tasks (``run_units``) and side tasks (``Executor.map``
    given this summary); a retried attempt starts from zero."""
    return executors.step_summary(context.run.run_id, context.asset_key.to_user_string(), context.retry_number,
                                  executor_from_env().name)


def run_units(context: dg.AssetExecutionContext, layout: Layout, stage: str, source: str, units: Iterable[Unit],
              owns_stage: bool = True) -> PartStats:
    """Build the parts that are missing or stale on the executor ``CORPUS_EXECUTOR`` names (in this process,
    or one Ray task each); the step records ``executor``, ``executor_nodes`` and ``executor_tasks`` (``step_summary``).
    A step that owns the stage (``owns_stage``) first removes the parts not in ``units`` and stale temp files;
    one that writes only some parts beside others (a Common Crawl file partition run) touches nothing else."""
    units = list(units)
    if owns_stage:
        layout.remove_stale_temps(stage, source)
        layout.clear_stage(stage, source, keep_parts=[u.part for u in units])
    total = PartStats(source=source, stage=stage)
    jobs = []
    for i, unit in enumerate(units, 1):
        if part_is_current(layout.part("docs", stage, source, unit.part), unit.fingerprint):
            context.log.info(f"{stage}/{source}: part {i}/{len(units)} {unit.part} is complete, skipped")
            total.merge(read_part_stats(layout, stage, source, unit.part))
            continue
        jobs.append(PartJob(layout, stage, source, unit.part, unit.fingerprint, unit.build,
                            f"{stage}/{source} {unit.part} ({i}/{len(units)})"))
    executor = executor_from_env()
    summary = step_summary(context)
    started = time.monotonic()
    for job, stats, node in executor.run(jobs, context.log):
        summary.add(node, stats)
        for reason, n in sorted(stats.drop_reasons.items()):
            context.log.info(f"{stage}/{source} {job.part}: dropped {n} ({reason})")
        total.merge(stats)
    summary.seconds += time.monotonic() - started
    if owns_stage:
        layout.remove_stale_temps(stage, source)  # what a task killed mid-write left (its retry wrote the part)
    context.log.info(f"{stage}/{source}: {summary.line()}")
    context.add_asset_metadata(summary.metadata())
    return total


def table_schema(schema: pa.Schema) -> dg.TableSchema:
    """A pyarrow schema as Dagster's table schema (the catalog page's column list)."""
    return dg.TableSchema(columns=[
        dg.TableColumn(f.name, str(f.type), constraints=dg.TableColumnConstraints(nullable=f.nullable))
        for f in schema
    ])


# the documents every stage's Parquet parts hold; built once (the schema is fixed)
DOCUMENT_TABLE_SCHEMA = table_schema(DOCUMENT_SCHEMA)


def stage_metadata(stats: PartStats, started: float, **extra: Any) -> dict[str, Any]:
    """The standard metadata of a stage: Dagster's ``dagster/row_count`` (documents in its parts) and
    ``dagster/column_schema`` (the document schema), then the funnel counts and the drop reasons, then
    ``extra`` (a ``corpus.plots.Markdown`` value renders as markdown)."""
    elapsed = time.monotonic() - started
    md: dict[str, Any] = {
        "dagster/row_count": dg.MetadataValue.int(stats.docs_out),
        "dagster/column_schema": dg.MetadataValue.table_schema(DOCUMENT_TABLE_SCHEMA),
        "docs_in": stats.docs_in,
        "docs_out": stats.docs_out,
        "chars_in": stats.chars_in,
        "chars_out": stats.chars_out,
        "docs_dropped": stats.docs_in - stats.docs_out,
        "parts_computed": stats.parts_computed,
        "parts_skipped": stats.parts_skipped,
        "seconds": dg.MetadataValue.float(round(elapsed, 3)),
        "docs_per_s": dg.MetadataValue.float(round(stats.docs_in / elapsed, 1) if elapsed > 0 else 0.0),
    }
    if stats.drop_reasons:
        rows = "\n".join(f"| {r} | {n} |" for r, n in sorted(stats.drop_reasons.items(), key=lambda kv: -kv[1]))
        md["drop_reasons"] = dg.MetadataValue.md("| reason | docs |\n|---|---|\n" + rows)
    md.update({k: dg.MetadataValue.md(v) if isinstance(v, Markdown) else v for k, v in extra.items()})
    return md


def clear_inactive_sources(layout: Layout, preset: presets.Preset, stage: str) -> tuple[str, ...]:
    """The sources ``stage`` runs on under ``preset``; the parts a run of another recipe (or other
    ``web_sources``) left for the others are removed, so the catalog and funnel show this recipe only."""
    active = preset.sources(stage)
    for source in presets.possible_sources(stage):
        if source not in active:
            layout.remove_stale_temps(stage, source)
            layout.clear_stage(stage, source, keep_parts=())
    return active


def skipped_metadata(preset: presets.Preset) -> dict[str, Any]:
    """What a stage the recipe does not run reports: it wrote no parts, the next stage reads the previous one."""
    return {"skipped": f"recipe {preset.name}", "recipe": preset.name, "dagster/row_count": dg.MetadataValue.int(0)}


def drop_reasons_plot(stats: PartStats, title: str) -> dict[str, Any]:
    """The drop reasons of a stage as a bar plot (empty when nothing was dropped)."""
    if not stats.drop_reasons:
        return {}
    ranked = dict(sorted(stats.drop_reasons.items(), key=lambda kv: (-kv[1], kv[0])))
    return {"drop_reasons_plot": dg.MetadataValue.md(as_markdown_image(bar_plot(ranked, title, "documents dropped")))}


# what a filter stage builds once per materialization: (the settings its parts' fingerprints hold,
# the filter of one source)
FilterBuilder = Callable[[Any, Layout], tuple[Any, Callable[[str], DocumentFilter]]]


def filter_stage_asset(stage: str, config_class: type[dg.Config], build: FilterBuilder, code: Sequence[ModuleType],
                       description: str, group_name: str = "web", extra_deps: Sequence[str] = (),
                       kinds: set[str] | None = None) -> dg.AssetsDefinition:
    """The asset of a per-part filter stage (``presets.STAGE_ASSETS[stage]``): for each source the active
    recipe runs it on, one part per part of the source's previous active stage, each through the
    ``DocumentFilter`` that ``build(config, layout)`` makes. Under a recipe that runs it on no source it
    writes nothing and says so (``skipped`` metadata)."""

    @dg.asset(name=presets.STAGE_ASSETS[stage], group_name=group_name, description=description,
              deps=[*presets.asset_deps(stage), *extra_deps], kinds=kinds or {"python", "parquet"})
    def filter_stage(context: dg.AssetExecutionContext, config: config_class, corpus_storage: CorpusStorage) -> dg.MaterializeResult:
        started = time.monotonic()
        layout = corpus_storage.layout()
        preset = corpus_storage.preset()
        sources = clear_inactive_sources(layout, preset, stage)
        if not sources:
            return dg.MaterializeResult(metadata=skipped_metadata(preset))
        settings, make_filter = build(config, layout)
        code_fp = code_fingerprint(*code)
        total, per_source = PartStats(source="*", stage=stage), {}
        for source in sources:
            units = filter_units(layout, stage, source, preset.upstream(source, stage), settings,
                                 lambda source=source: make_filter(source), code_fp)
            stats = run_units(context, layout, stage, source, units)
            per_source[f"docs_out_{source}"] = stats.docs_out
            total.merge(stats)
        return dg.MaterializeResult(metadata=stage_metadata(
            total, started, recipe=preset.name, **per_source, **drop_reasons_plot(total, f"{stage}: drop reasons")))

    return filter_stage
