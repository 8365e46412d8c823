"""The scale-out path for Common Crawl: one dynamic partition per WET/WARC file of a snapshot.

``commoncrawl_file`` downloads (with resume) and ingests ONE file into the very part that the
unpartitioned ``commoncrawl_documents`` asset writes for it: the file lands under the commoncrawl source
root at its path below ``crawl-data/`` (``CC-MAIN-2024-10/segments/<segment>/wet/<file>``), the partition
key is that path's part name, and the fingerprint is the ingest asset's (part, content, reader options,
reader code). So a partition backfill and ``commoncrawl_documents`` agree byte for byte and skip each
other's completed parts; the snapshot-wide stages (line dedup, MinHash) run in ``build_corpus`` over
every part present. The main graph stays unpartitioned: ``build_corpus`` leaves this asset out.

Partitions are registered by the ``commoncrawl_snapshot_sensor`` (from a snapshot's ``wet.paths.gz``)
or by hand; a file already present under the source root needs no download.
"""

import inspect
import os
import time
from typing import Optional

import dagster as dg
import pyarrow.compute as pc
import xxhash

from assets.raw_sources import COMMONCRAWL_SNAPSHOTS, raw_asset_key
from assets.resources import CorpusStorage, RawInputs, unreachable_host_fails_the_step
from assets.sources import DOWNLOAD_RETRY, inputs_data_version, reader_code_fingerprint, source_config
from assets.stages import Unit, fingerprint_cache, stage_metadata
from corpus import plots, recipe, snapshots
from corpus.fingerprints import content_fingerprint
from corpus.inputs import download, mirrored, part_name
from corpus.progress import Progress
from corpus.sources import reader
from corpus.part_runners import ingest_part
from corpus.storage import Location, PartStats, PartWriter, part_is_current, read_part_stats, read_table
from corpus.fingerprints import fingerprint

SOURCE = "commoncrawl"
STAGE = "ingest"
COMMONCRAWL_FILES = dg.DynamicPartitionsDefinition(name="commoncrawl_files")
WRITES_TAG = "corpus/writes"  # dagster.yaml limits runs per unique value of this tag to one
# The run queue's exclusion of a partition run and a run that rewrites the whole commoncrawl ingest
# stage (build_corpus: its stale-temp cleanup would delete the partition runs' in-flight temp files).
# Dagster's tag limits are counting semaphores, so the shared/exclusive lock is striped: a partition
# run holds one stripe (by its key), the whole-stage run holds them all, and dagster.yaml limits every
# stripe tag to one run. Partition runs on different stripes still run side by side (up to STRIPES).
INGEST_STRIPES = 16


def ingest_stripe_tag(stripe: int) -> str:
    return f"corpus/cc_ingest_{stripe:02d}"


def writes_tags(partition_key: str) -> dict[str, str]:
    """Run tags of a file partition's run: two runs never write the same part at once, and none runs
    beside a whole-stage ingest run."""
    stripe = xxhash.xxh3_64_intdigest(partition_key.encode()) % INGEST_STRIPES
    return {WRITES_TAG: f"{SOURCE}/{partition_key}", ingest_stripe_tag(stripe): "1"}


def whole_ingest_tags() -> dict[str, str]:
    """Run tags of a run that rewrites the whole commoncrawl ingest stage: every stripe."""
    return {ingest_stripe_tag(i): "1" for i in range(INGEST_STRIPES)}


class CommonCrawlRemote(dg.ConfigurableResource):
    """Where Common Crawl's listings and files come from. Unset fields fall back to the environment
    (``CORPUS_CC_COLLINFO_URL``, ``CORPUS_CC_DATA_URL``, ``CORPUS_CC_MAX_FILES_PER_SNAPSHOT``), then to
    Common Crawl's public endpoints and no file limit."""

    collinfo_url: Optional[str] = None
    data_url: Optional[str] = None
    max_files_per_snapshot: Optional[int] = None  # the first N files of each new snapshot (demos, tests)
    initial_snapshots: int = 1  # on the sensor's first tick, how many of the newest snapshots to take

    def resolved_collinfo_url(self) -> str:
        return self.collinfo_url or os.environ.get("CORPUS_CC_COLLINFO_URL") or snapshots.COLLINFO_URL

    def resolved_data_url(self) -> str:
        return self.data_url or os.environ.get("CORPUS_CC_DATA_URL") or snapshots.DATA_URL

    def resolved_max_files(self) -> Optional[int]:
        if self.max_files_per_snapshot is not None:
            return self.max_files_per_snapshot
        env = os.environ.get("CORPUS_CC_MAX_FILES_PER_SNAPSHOT")
        return int(env) if env else None


class WetFileConfig(source_config(SOURCE)):
    """The commoncrawl reader's settings (the same class ``commoncrawl_documents`` takes, so the same
    fingerprint); ``inputs`` does not apply: a partition reads its own file."""


def _options(config: WetFileConfig) -> dict:
    if config.inputs:
        raise dg.Failure(f"commoncrawl_file reads the file its partition names; `inputs` ({config.inputs}) "
                         "is for commoncrawl_documents")
    return config.model_dump(exclude={"inputs", *config.discovery_fields})


def _ingest_one(context: dg.AssetExecutionContext, layout, unit: Unit) -> PartStats:
    """One part, never touching the others (``run_units`` would clear parts it was not given)."""
    if part_is_current(layout.part("docs", STAGE, SOURCE, unit.part), unit.fingerprint):
        context.log.info(f"{STAGE}/{SOURCE} {unit.part} is complete, skipped")
        return read_part_stats(layout, STAGE, SOURCE, unit.part)
    progress = Progress(context.log, f"{STAGE}/{SOURCE} {unit.part}")
    with PartWriter(layout, STAGE, SOURCE, unit.part, unit.fingerprint) as writer:
        unit.build(writer, progress)
    progress.finish()
    return writer.stats


def _length_plot(path: Location, min_chars: Optional[int]) -> Optional[str]:
    lengths = pc.utf8_length(read_table(path, columns=["text"]).column("text")).to_pylist()
    if not lengths:
        return None
    cutoffs = {f"min {min_chars} chars": min_chars} if min_chars else None
    png = plots.histogram_plot(lengths, title="Document length", xlabel="characters", cutoffs=cutoffs, log_x=True)
    return plots.as_markdown_image(png, "document length histogram")


@dg.asset(
    group_name="ingest",
    partitions_def=COMMONCRAWL_FILES,
    deps=[raw_asset_key(SOURCE), COMMONCRAWL_SNAPSHOTS],
    retry_policy=DOWNLOAD_RETRY,
    kinds={"python", "parquet"},
    tags={"source": SOURCE},
)
@unreachable_host_fails_the_step()
def commoncrawl_file(context: dg.AssetExecutionContext, config: WetFileConfig, corpus_storage: CorpusStorage,
                         raw_inputs: RawInputs, commoncrawl_remote: CommonCrawlRemote) -> dg.MaterializeResult:
    """One Common Crawl WET/WARC file -> documents, in the part ``commoncrawl_documents`` uses for it."""
    started = time.monotonic()
    key = context.partition_key
    relpath = snapshots.relpath_for_key(key)
    layout = corpus_storage.layout()
    root = raw_inputs.source_root(SOURCE, layout)
    path = root / relpath
    if part_name(root, path) != key:
        raise dg.Failure(f"partition key {key!r} is not the part name of {path} ({part_name(root, path)!r})")
    url = snapshots.file_url(commoncrawl_remote.resolved_data_url(), relpath)
    if path.exists():
        context.log.info(f"{relpath}: present under {root}, no download")
    else:
        context.log.info(f"downloading {url} -> {path}")
        download(mirrored(url), path)  # resumes a .part left by a killed attempt; the RetryPolicy retries the step
    module = reader(SOURCE)
    options = _options(config)
    code = reader_code_fingerprint(module)  # the same fingerprint as commoncrawl_documents' (tested)

    settings = dict(options)
    if "spill_dir" in inspect.signature(module.read_documents).parameters:
        options["spill_dir"] = str(layout.work / "tmp" / SOURCE)  # scratch space, outside the fingerprint

    def build(writer, progress) -> None:
        ingest_part(writer, module.read_documents(path, key, **options), progress)

    with fingerprint_cache(layout) as cache:
        unit = Unit(key, fingerprint(key, content_fingerprint(path, cache), settings, code), build)
    stats = _ingest_one(context, layout, unit)
    md = stage_metadata(stats, started, partition=key, snapshot=snapshots.snapshot_of(relpath) or "",
                        file_bytes=path.stat().st_size, url=dg.MetadataValue.url(url),
                        path=dg.MetadataValue.path(str(layout.part("docs", STAGE, SOURCE, key))))
    plot = _length_plot(layout.part("docs", STAGE, SOURCE, key), options.get("min_doc_chars", recipe.CCNET_MIN_DOC_CHARS))
    if plot:
        md["doc_length_histogram"] = dg.MetadataValue.md(plot)
    return dg.MaterializeResult(metadata=md, data_version=inputs_data_version([unit]))
