"""The Common Crawl file partitions of ``commoncrawl_documents``: one dynamic partition per WET/WARC file.

A file lands under the commoncrawl source root at its path below ``crawl-data/``
(``CC-MAIN-2024-10/segments/<segment>/wet/<file>``) and its partition key is that path's part name, so a
partition run, a single-run backfill over many partitions and the unpartitioned bulk run of
``build_corpus`` write the same part for a file, with the same fingerprint, and skip each other's
completed parts. A partition run downloads its file when it is not present (resume, retries) and writes
only its own parts; the bulk run ingests every file present, registers each as a partition and records a
materialization per file partition, so the asset's partitions page shows every file either path wrote.

Partitions are registered by the ``commoncrawl_snapshot_sensor`` (from a snapshot's ``wet.paths.gz``), by
a bulk run, or by hand. The snapshot-wide stages (line dedup, MinHash) read every part present.
"""

import os
from pathlib import Path
from typing import Iterable, Optional

import dagster as dg
import pyarrow.compute as pc
import xxhash
from dagster._core.definitions.data_version import DATA_VERSION_TAG  # "dagster/data_version"

from corpus import plots, snapshots
from corpus.inputs import download, mirrored, part_name
from corpus.storage import Layout, Location, read_part_stats, read_table

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
    """Where the snapshot sensor finds Common Crawl's snapshots. Unset fields fall back to the environment
    (``CORPUS_CC_COLLINFO_URL``, ``CORPUS_CC_MAX_FILES_PER_SNAPSHOT``), then to Common Crawl's index and no
    file limit. The files and ``wet.paths.gz`` come from ``RawInputs.commoncrawl_data_url``."""

    collinfo_url: Optional[str] = None
    max_files_per_snapshot: Optional[int] = None  # the first N files of each new snapshot (demos, tests)
    initial_snapshots: int = 1  # on the sensor's first tick, how many of the newest snapshots to take

    def resolved_collinfo_url(self) -> str:
        return self.collinfo_url or os.environ.get("CORPUS_CC_COLLINFO_URL") or snapshots.COLLINFO_URL

    def resolved_max_files(self) -> Optional[int]:
        if self.max_files_per_snapshot is not None:
            return self.max_files_per_snapshot
        env = os.environ.get("CORPUS_CC_MAX_FILES_PER_SNAPSHOT")
        return int(env) if env else None


def partition_files(context: dg.AssetExecutionContext, root: Path, data_url: str,
                    inputs: list[str]) -> list[tuple[str, Path]]:
    """(key, file) of the run's partitions, each file under the source root, downloaded from ``data_url`` when
    it is not there (``download`` resumes a ``.part`` a killed attempt left; the asset's RetryPolicy retries)."""
    if inputs:
        raise dg.Failure(description=f"a partition run reads the files its partitions name; `inputs` ({inputs}) "
                                     "is for a run without partition", allow_retries=False)
    files = []
    for key in context.partition_keys:
        relpath = snapshots.relpath_for_key(key)
        path = root / relpath
        if part_name(root, path) != key:
            raise dg.Failure(f"partition key {key!r} is not the part name of {path} ({part_name(root, path)!r})")
        if path.exists():
            context.log.info(f"{relpath}: present under {root}, no download")
        else:
            url = snapshots.file_url(data_url, relpath)
            context.log.info(f"downloading {url} -> {path}")
            download(mirrored(url), path)
        files.append((key, path))
    return files


def file_partition_keys(root: Path, inputs: Iterable[tuple[str, Path]]) -> list[str]:
    """The part names of the inputs that are files under the source root whose part name is their partition
    key (a partition run on the key finds the same file); explicit ``inputs`` elsewhere are not partitions."""
    keys = []
    for part, path in inputs:
        try:
            key = snapshots.partition_key(path.relative_to(root).as_posix())
        except (ValueError, snapshots.ListingError):
            continue
        if key == part:
            keys.append(key)
    return keys


def record_file_partitions(context: dg.AssetExecutionContext, layout: Layout, keys: list[str],
                           versions: dict[str, str]) -> None:
    """After a bulk run: every file it ingested is a registered partition with a materialization of its own
    (its part's counts, its input fingerprint as data version), as a partition run would have recorded."""
    context.instance.add_dynamic_partitions(COMMONCRAWL_FILES.name, keys)
    for key in keys:
        stats = read_part_stats(layout, STAGE, SOURCE, key)
        context.log_event(dg.AssetMaterialization(
            asset_key=context.asset_key, partition=key, tags={DATA_VERSION_TAG: versions[key]},
            metadata={"dagster/row_count": dg.MetadataValue.int(stats.docs_out), "docs_in": stats.docs_in,
                      "docs_out": stats.docs_out, "snapshot": snapshots.part_snapshot(key),
                      "path": dg.MetadataValue.path(str(layout.part("docs", STAGE, SOURCE, key)))}))
    context.log.info(f"{len(keys)} file partition(s) of {COMMONCRAWL_FILES.name} recorded")


def partitions_metadata(layout: Layout, root: Path, keys: list[str], data_url: str, min_chars: Optional[int]) -> dict:
    """What a partition run adds to the stage metadata: for one file, where it came from and its length
    histogram; for a range, how many files."""
    if len(keys) != 1:
        return {"partitions": len(keys)}
    relpath = snapshots.relpath_for_key(keys[0])
    part = layout.part("docs", STAGE, SOURCE, keys[0])
    md = {"partition": keys[0], "snapshot": snapshots.snapshot_of(relpath) or "",
          "file_bytes": (root / relpath).stat().st_size, "url": dg.MetadataValue.url(snapshots.file_url(data_url, relpath)),
          "path": dg.MetadataValue.path(str(part))}
    if plot := _length_plot(part, min_chars):
        md["doc_length_histogram"] = dg.MetadataValue.md(plot)
    return md


def _length_plot(path: Location, min_chars: Optional[int]) -> Optional[str]:
    lengths = pc.utf8_length(read_table(path, columns=["text"]).column("text")).to_pylist()
    if not lengths:
        return None
    cutoffs = {f"min {min_chars} chars": min_chars} if min_chars else None
    png = plots.histogram_plot(lengths, title="Document length", xlabel="characters", cutoffs=cutoffs, log_x=True)
    return plots.as_markdown_image(png, "document length histogram")
