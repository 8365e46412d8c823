"""One ingest asset per source: raw files in their native format -> cleaned documents (stage ``ingest``).

Each input unit (file, archive, repository or paper folder) becomes one part, so a rerun only
recomputes new or changed inputs. A source's ``Config`` fields are its reader's keyword arguments.
"""

import inspect
import time
from pathlib import Path
from types import ModuleType
from typing import ClassVar

import dagster as dg
import pydantic

from assets.code_versions import corpus_modules_used
from assets.config_base import ValidatedConfig
from assets.resources import CorpusStorage, RawInputs
from assets.stages import Unit, code_fingerprint, content_fingerprint, run_units, stage_metadata
from corpus import recipe
from corpus.inputs import expand_paths, part_name
from corpus.sources import reader
from corpus.stage import ingest_part
from corpus.storage import fingerprint
from corpus.validation import missing_local_inputs

STAGE = "ingest"
DOWNLOAD_RETRY = dg.RetryPolicy(max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL)


class IngestConfig(ValidatedConfig):
    """Reader settings; ``inputs`` (paths, globs or URLs) replaces the resource's folder when given.

    Fields are the reader's keyword arguments, except those named in ``discovery_fields``, which go to
    its ``discover_inputs``."""

    discovery_fields: ClassVar[tuple[str, ...]] = ()
    inputs: list[str] = []
    max_doc_bytes: int = pydantic.Field(default=recipe.INGEST_MAX_DOC_BYTES, gt=0)

    @pydantic.field_validator("inputs")
    @classmethod
    def _inputs_exist(cls, inputs: list[str]) -> list[str]:
        blank = [i for i, spec in enumerate(inputs) if not spec.strip()]
        if blank:
            raise ValueError(f"inputs[{blank[0]}] is empty: give a path, a glob or an http(s) URL")
        if missing := missing_local_inputs(inputs):
            raise ValueError(f"input(s) not found: {', '.join(missing)}")
        return inputs


class StackExchangeConfig(IngestConfig):
    discovery_fields: ClassVar[tuple[str, ...]] = ("top_sites",)
    top_sites: int = pydantic.Field(default=recipe.STACKEXCHANGE_TOP_SITES, gt=0)


SOURCE_CONFIGS: dict[str, type[IngestConfig]] = {"stackexchange": StackExchangeConfig}


def reader_code_fingerprint(module: ModuleType) -> str:
    """The reader and every ``corpus`` module it imports from (helpers, filters, recipe numbers)."""
    used = corpus_modules_used(module) | {recipe}
    return code_fingerprint(*sorted((Path(m.__file__) for m in used), key=str))


def ingest_asset(source: str, config_cls: type[IngestConfig] = IngestConfig) -> dg.AssetsDefinition:
    module = reader(source)

    @dg.asset(
        name=f"{source}_documents",
        group_name="ingest",
        description=(module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else None,
        retry_policy=DOWNLOAD_RETRY,
        kinds={"python", "parquet"},
        tags={"source": source},
    )
    def _ingest(context: dg.AssetExecutionContext, config: config_cls, corpus_storage: CorpusStorage,
                raw_inputs: RawInputs) -> dg.MaterializeResult:
        started = time.monotonic()
        layout = corpus_storage.layout()
        if config.inputs:
            paths = expand_paths(config.inputs, layout.raw_cache)
            units = [(part_name(p.parent, p), p) for p in paths]
        else:
            units = raw_inputs.units(source, layout, **{f: getattr(config, f) for f in config.discovery_fields})
        if not units:
            context.log.warning(f"{source}: no input files found; the source is empty")
        options = config.model_dump(exclude={"inputs", *config.discovery_fields})
        if "spill_dir" in inspect.signature(module.read_documents).parameters:
            options["spill_dir"] = str(layout.work / "tmp" / source)  # scratch space, outside the fingerprint
        code = reader_code_fingerprint(module)

        def unit(part: str, path: Path) -> Unit:
            def build(writer, progress) -> None:
                ingest_part(writer, module.read_documents(path, part, **options), progress)

            settings = {k: v for k, v in options.items() if k != "spill_dir"}
            return Unit(part, fingerprint(part, content_fingerprint(path), settings, code), build)

        stats = run_units(context, layout, STAGE, source, [unit(part, path) for part, path in units])
        return dg.MaterializeResult(metadata=stage_metadata(stats, started, input_units=len(units)))

    return _ingest


def source_config(source: str) -> type[IngestConfig]:
    return SOURCE_CONFIGS.get(source, IngestConfig)


ingest_assets = [ingest_asset(s, source_config(s)) for s in recipe.SOURCES]
