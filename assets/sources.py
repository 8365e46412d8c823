"""One ingest asset per source: raw files in their native format -> cleaned documents (stage ``ingest``).

Each input unit (file, archive, repository or paper folder) becomes one part, so a rerun only
recomputes new or changed inputs. A source's ``Config`` fields are its reader's keyword arguments
(built from the reader's signature, so they cannot drift), and ``inputs``.
"""

import inspect
import time
from pathlib import Path
from types import ModuleType
from typing import ClassVar

import dagster as dg
import pydantic

from assets.code_versions import corpus_modules_used
from assets.config_base import ValidatedConfig, config_class, keyword_fields
from assets import commoncrawl_snapshot
from assets.raw_sources import COMMONCRAWL_SNAPSHOTS, raw_asset_key
from assets.resources import CorpusStorage, RawInputs, unreachable_host_fails_the_step
from assets.stages import fingerprint_cache, run_units, stage_metadata
from corpus.part_runners import Unit, code_fingerprint, ingest_part
from corpus import recipe
from corpus.fingerprints import FingerprintCache, content_fingerprint
from corpus.inputs import expand_paths, explicit_input_units
from corpus.sources import reader
from corpus.fingerprints import fingerprint
from corpus.storage import Layout
from corpus.validation import missing_local_inputs

STAGE = "ingest"
DOWNLOAD_RETRY = dg.RetryPolicy(max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL)


class IngestConfig(ValidatedConfig):
    """``inputs`` (paths, globs or URLs) replaces the resource's folder when given; a source's own config
    (``source_config``) adds its reader's settings."""

    discovery_fields: ClassVar[tuple[str, ...]] = ()
    inputs: list[str] = []

    @pydantic.field_validator("inputs")
    @classmethod
    def _inputs_exist(cls, inputs: list[str]) -> list[str]:
        blank = [i for i, spec in enumerate(inputs) if not spec.strip()]
        if blank:
            raise ValueError(f"inputs[{blank[0]}] is empty: give a path, a glob or an http(s) URL")
        if missing := missing_local_inputs(inputs):
            raise ValueError(f"input(s) not found: {', '.join(missing)}")
        return inputs


# reader arguments that are scratch space given by the asset, not settings
SCRATCH_OPTIONS = ("spill_dir",)
# ranges of reader settings (the readers' signatures give names, types and defaults)
OPTION_BOUNDS = {"max_doc_bytes": {"gt": 0}, "top_sites": {"gt": 0}, "min_doc_chars": {"ge": 0},
                 "max_include_depth": {"ge": 0}, "max_macro_depth": {"ge": 0}}


def _source_config(source: str) -> type[IngestConfig]:
    module = reader(source)
    discovery = keyword_fields(module.discover_inputs)
    options = keyword_fields(module.read_documents, skip=SCRATCH_OPTIONS)
    cls = config_class(f"IngestConfig_{source}", __name__, {**options, **discovery}, base=IngestConfig,
                       bounds=OPTION_BOUNDS,
                       doc=f"``inputs``, every keyword argument of corpus.sources.{source}.read_documents and of its "
                           "discover_inputs (``discovery_fields``), with their types and defaults.")
    cls.discovery_fields = tuple(discovery)
    return cls


SOURCE_CONFIGS: dict[str, type[IngestConfig]] = {source: _source_config(source) for source in recipe.SOURCES}


def reader_code_fingerprint(module: ModuleType) -> str:
    """The reader and every ``corpus`` module it imports from (helpers, filters, recipe numbers)."""
    used = corpus_modules_used(module) | {recipe}
    return code_fingerprint(*sorted((Path(m.__file__) for m in used), key=str))


def inputs_data_version(units: list[Unit]) -> dg.DataVersion:
    """The data version of an ingest asset: a hash of its parts' input fingerprints (part name, raw content,
    reader settings and code), so the version moves exactly when some part would be recomputed."""
    return dg.DataVersion(fingerprint(*sorted((u.part, u.fingerprint) for u in units)))


def _reader_options(config: IngestConfig, module: ModuleType, layout: Layout) -> dict:
    """The reader's keyword arguments from the config: its settings, and scratch space outside the fingerprint."""
    options = config.model_dump(exclude={"inputs", *config.discovery_fields})
    if "spill_dir" in inspect.signature(module.read_documents).parameters:
        options["spill_dir"] = str(layout.work / "tmp" / module.__name__.rsplit(".", 1)[-1])  # the source's name
    return options


def ingest_units(module: ModuleType, config: IngestConfig, layout: Layout,
                 inputs: list[tuple[str, Path]]) -> list[Unit]:
    """One unit per (part name, path) through the reader ``module``: the part's fingerprint is its name, the
    raw content, the reader's settings and code, whichever run (bulk, file partition) plans it."""
    options = _reader_options(config, module, layout)
    settings = {k: v for k, v in options.items() if k not in SCRATCH_OPTIONS}
    code = reader_code_fingerprint(module)

    def unit(part: str, path: Path, cache: FingerprintCache) -> Unit:
        def build(writer, progress) -> None:
            ingest_part(writer, module.read_documents(path, part, **options), progress)

        return Unit(part, fingerprint(part, content_fingerprint(path, cache), settings, code), build)

    with fingerprint_cache(layout) as cache:
        return [unit(part, path, cache) for part, path in inputs]


def discover(context: dg.AssetExecutionContext, source: str, config: IngestConfig, layout: Layout,
             raw_inputs: RawInputs) -> list[tuple[str, Path]]:
    """(part name, path) of every input: the config's ``inputs``, else the resource's folder or manifest."""
    if config.inputs:
        inputs = explicit_input_units(expand_paths(config.inputs, layout.raw_cache))
    else:
        inputs = raw_inputs.units(source, layout, **{f: getattr(config, f) for f in config.discovery_fields})
    if not inputs:
        context.log.warning(f"{source}: no input files found; the source is empty")
    return inputs


def ingest_asset_args(source: str) -> dict:
    """The ``@asset`` arguments every ingest asset shares."""
    return dict(name=f"{source}_documents", group_name="ingest", retry_policy=DOWNLOAD_RETRY,
                kinds={"python", "parquet"}, tags={"source": source})


def ingest_asset(source: str) -> dg.AssetsDefinition:
    """The ingest asset of a source whose files are not partitions: every input, one part each."""
    config_cls = source_config(source)
    module = reader(source)

    summary = (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else None

    @dg.asset(deps=[raw_asset_key(source)], description=summary, **ingest_asset_args(source))
    @unreachable_host_fails_the_step()
    def _ingest(context: dg.AssetExecutionContext, config: config_cls, corpus_storage: CorpusStorage,
                raw_inputs: RawInputs) -> dg.MaterializeResult:
        started = time.monotonic()
        layout = corpus_storage.layout()
        inputs = discover(context, source, config, layout, raw_inputs)
        planned = ingest_units(module, config, layout, inputs)
        stats = run_units(context, layout, STAGE, source, planned)
        return dg.MaterializeResult(metadata=stage_metadata(stats, started, input_units=len(inputs)),
                                    data_version=inputs_data_version(planned))

    return _ingest


def source_config(source: str) -> type[IngestConfig]:
    return SOURCE_CONFIGS[source]


CC = commoncrawl_snapshot.SOURCE


def commoncrawl_asset() -> dg.AssetsDefinition:
    """The one Common Crawl ingest asset: the files are ``commoncrawl_files`` partitions (one part each)."""
    module = reader(CC)

    @dg.asset(partitions_def=commoncrawl_snapshot.COMMONCRAWL_FILES, backfill_policy=dg.BackfillPolicy.single_run(),
              deps=[raw_asset_key(CC), COMMONCRAWL_SNAPSHOTS], **ingest_asset_args(CC))
    @unreachable_host_fails_the_step()
    def commoncrawl_documents(context: dg.AssetExecutionContext, config: source_config(CC),
                              corpus_storage: CorpusStorage, raw_inputs: RawInputs) -> dg.MaterializeResult:
        """Common Crawl WET/WARC/ARC files -> documents, one part and one ``commoncrawl_files`` partition per
        file: with partition keys (a file run, a single-run backfill) exactly those files, downloaded when
        missing, no other part touched; without (``build_corpus``) every file present, as for any source,
        each then recorded as a materialized partition."""
        started = time.monotonic()
        layout = corpus_storage.layout()
        root, data_url = raw_inputs.source_root(CC, layout), raw_inputs.resolved_commoncrawl_data_url()
        if context.has_partition_key or context.has_partition_key_range:
            files = commoncrawl_snapshot.partition_files(context, root, data_url, config.inputs)
            planned = ingest_units(module, config, layout, files)
            stats = run_units(context, layout, STAGE, CC, planned, owns_stage=False)  # other file runs write beside it
            extra = commoncrawl_snapshot.partitions_metadata(layout, root, context.partition_keys, data_url,
                                                             config.min_doc_chars)
        else:
            inputs = discover(context, CC, config, layout, raw_inputs)
            planned = ingest_units(module, config, layout, inputs)
            stats = run_units(context, layout, STAGE, CC, planned)
            versions = {u.part: inputs_data_version([u]).value for u in planned}
            keys = commoncrawl_snapshot.file_partition_keys(root, inputs)
            commoncrawl_snapshot.record_file_partitions(context, layout, keys, versions)
            extra = {"input_units": len(inputs)}
        return dg.MaterializeResult(metadata=stage_metadata(stats, started, **extra),
                                    data_version=inputs_data_version(planned))

    return commoncrawl_documents


commoncrawl_documents = commoncrawl_asset()
ingest_assets = [commoncrawl_documents if s == CC else ingest_asset(s) for s in recipe.SOURCES]
