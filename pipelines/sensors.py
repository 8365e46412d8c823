"""Sensors (both stopped by default; switch them on in the UI):

- ``commoncrawl_snapshot_sensor`` polls a ``collinfo.json``-style listing; for each snapshot it has not
  seen it reads the snapshot's ``wet.paths.gz``, registers one ``commoncrawl_files`` partition per file
  and requests one ``ingest_commoncrawl_files`` run per file; a changed list is an observation of the source
  asset ``commoncrawl_snapshots``. Cursor: the JSON list of known snapshots.
- ``raw_files_sensor`` watches ``CORPUS_RAW_DIR`` and requests a ``build_corpus`` run when its listing
  (paths, sizes, mtimes) changes and has settled, with an observation of every ``raw_<source>`` source
  asset (``assets.raw_sources``): the ingest assets below a changed folder show as unsynced. Cursor: the
  listing's hash.

The listing parsing and hashing live in ``corpus.snapshots``; this module only wires them.
"""

import json
import time
from dataclasses import dataclass

import dagster as dg

from assets.commoncrawl_snapshot import COMMONCRAWL_FILES, CommonCrawlRemote, writes_tags
from assets.raw_sources import observe_raw_sources, observe_snapshots
from assets.resources import RawInputs
from corpus import snapshots
from pipelines.partitions import ingest_commoncrawl_files

BUILD_JOB = "build_corpus"


@dataclass(frozen=True)
class SensorSettings:
    snapshot_interval_s: int = 6 * 3600  # Common Crawl publishes about one snapshot a month
    raw_interval_s: int = 60
    settle_s: float = 120.0  # a folder whose newest file is younger than this is still being copied


DEFAULTS = SensorSettings()


def snapshot_sensor(settings: SensorSettings = DEFAULTS, name: str = "commoncrawl_snapshot_sensor") -> dg.SensorDefinition:
    @dg.sensor(name=name, job=ingest_commoncrawl_files, minimum_interval_seconds=settings.snapshot_interval_s,
               default_status=dg.DefaultSensorStatus.STOPPED,
               description="New Common Crawl snapshot -> one partition and one ingest run per WET file.")
    def _sensor(context: dg.SensorEvaluationContext, commoncrawl_remote: CommonCrawlRemote, raw_inputs: RawInputs):
        known = json.loads(context.cursor) if context.cursor else None
        listed = [s.id for s in snapshots.parse_collinfo(snapshots.fetch(commoncrawl_remote.resolved_collinfo_url()))]
        new = snapshots.new_snapshots(listed, known, commoncrawl_remote.initial_snapshots)
        cursor = json.dumps(sorted(set(known or ()) | set(listed)))
        observed = [observe_snapshots(listed)] if cursor != context.cursor else []
        if not new:
            return dg.SensorResult(skip_reason=dg.SkipReason(f"no new snapshot among {len(listed)} listed"),
                                   asset_events=observed, cursor=cursor)
        data_url, limit = raw_inputs.resolved_commoncrawl_data_url(), commoncrawl_remote.resolved_max_files()
        keys: list[str] = []
        for snapshot in new:
            paths = snapshots.parse_paths(snapshots.fetch(snapshots.wet_paths_url(data_url, snapshot)), snapshot, limit)
            context.log.info(f"{snapshot}: {len(paths)} file partition(s)" + (f" (first {limit})" if limit else ""))
            keys.extend(snapshots.partition_key(p) for p in paths)
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=k, partition_key=k, tags=writes_tags(k)) for k in keys],
            dynamic_partitions_requests=[COMMONCRAWL_FILES.build_add_request(keys)] if keys else [],
            asset_events=observed,
            cursor=cursor,
        )

    return _sensor


def raw_files_sensor_for(settings: SensorSettings = DEFAULTS, name: str = "raw_files_sensor") -> dg.SensorDefinition:
    @dg.sensor(name=name, job_name=BUILD_JOB, minimum_interval_seconds=settings.raw_interval_s,
               default_status=dg.DefaultSensorStatus.STOPPED,
               description="New or changed files under CORPUS_RAW_DIR -> a build_corpus run.")
    def _sensor(context: dg.SensorEvaluationContext, raw_inputs: RawInputs):
        raw = raw_inputs.resolved_raw_dir()
        if raw is None:
            return dg.SkipReason("CORPUS_RAW_DIR is not set: the inputs come from the default manifest")
        entries = snapshots.folder_listing(raw)
        digest = snapshots.listing_hash(entries)
        if digest == context.cursor:
            return dg.SkipReason(f"{raw}: {len(entries)} files, unchanged")
        age_s = (time.time_ns() - snapshots.newest_mtime_ns(entries)) / 1e9 if entries else None
        if age_s is not None and age_s < settings.settle_s:
            return dg.SkipReason(f"{raw}: changed {age_s:.0f}s ago; waiting {settings.settle_s:.0f}s for copies to settle")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"raw-{digest}", tags={"corpus/raw_listing": digest})],
            asset_events=observe_raw_sources(raw_inputs),
            cursor=digest,
        )

    return _sensor


commoncrawl_snapshot_sensor = snapshot_sensor()
raw_files_sensor = raw_files_sensor_for()
