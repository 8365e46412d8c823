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
from assets.raw_sources import raw_asset_key
from assets.resources import CorpusStorage, RawInputs, unreachable_host_fails_the_step
from assets.stages import Unit, code_fingerprint, fingerprint_cache, run_units, stage_metadata
from corpus import recipe
from corpus.fingerprints import FingerprintCache, content_fingerprint
from corpus.inputs import expand_paths, explicit_input_units
from corpus.sources import reader
from corpus.part_runners import ingest_part
from corpus.fingerprints import fingerprint
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


def ingest_asset(source: str) -> dg.AssetsDefinition:
    module = reader(source)
    config_cls = source_config(source)

    @dg.asset(
        name=f"{source}_documents",
        group_name="ingest",
        deps=[raw_asset_key(source)],
        description=(module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else None,
        retry_policy=DOWNLOAD_RETRY,
        kinds={"python", "parquet"},
        tags={"source": source},
    )
    @unreachable_host_fails_the_step()
    def _ingest(context: dg.AssetExecutionContext, config: config_cls, corpus_storage: CorpusStorage,
                raw_inputs: RawInputs) -> dg.MaterializeResult:
        started = time.monotonic()
        layout = corpus_storage.layout()
        if config.inputs:
            units = explicit_input_units(expand_paths(config.inputs, layout.raw_cache))
        else:
            units = raw_inputs.units(source, layout, **{f: getattr(config, f) for f in config.discovery_fields})
        if not units:
            context.log.warning(f"{source}: no input files found; the source is empty")
        options = config.model_dump(exclude={"inputs", *config.discovery_fields})
        if "spill_dir" in inspect.signature(module.read_documents).parameters:
            options["spill_dir"] = str(layout.work / "tmp" / source)  # scratch space, outside the fingerprint
        code = reader_code_fingerprint(module)

        def unit(part: str, path: Path, cache: FingerprintCache) -> Unit:
            def build(writer, progress) -> None:
                ingest_part(writer, module.read_documents(path, part, **options), progress)

            settings = {k: v for k, v in options.items() if k != "spill_dir"}
            return Unit(part, fingerprint(part, content_fingerprint(path, cache), settings, code), build)

        with fingerprint_cache(layout) as cache:
            planned = [unit(part, path, cache) for part, path in units]
        stats = run_units(context, layout, STAGE, source, planned)
        return dg.MaterializeResult(metadata=stage_metadata(stats, started, input_units=len(units)),
                                    data_version=inputs_data_version(planned))

    return _ingest


def source_config(source: str) -> type[IngestConfig]:
    return SOURCE_CONFIGS[source]


ingest_assets = [ingest_asset(s) for s in recipe.SOURCES]
