"""Partitioned jobs: the Common Crawl scale-out path, one run per WET/WARC file.

Every run of ``ingest_commoncrawl_files`` carries ``corpus/writes=commoncrawl/<partition key>`` (from
the job's partitioned config, so runs from the sensor, the launchpad and job backfills all get it), and
``dagster.yaml`` lets one run per unique value of that tag run at a time: two runs never write the same
part at once. Each run also holds one ``corpus/cc_ingest_NN`` stripe tag and ``build_corpus`` holds all
of them (``assets.commoncrawl_snapshot.INGEST_STRIPES``), so the queue never starts the two side by side.
"""

import dagster as dg

from assets.commoncrawl_snapshot import COMMONCRAWL_FILES, commoncrawl_file, writes_tags

INGEST_FILES_JOB = "ingest_commoncrawl_files"

ingest_commoncrawl_files = dg.define_asset_job(
    INGEST_FILES_JOB,
    selection=dg.AssetSelection.assets(commoncrawl_file),
    config=dg.PartitionedConfig(
        partitions_def=COMMONCRAWL_FILES,
        run_config_for_partition_key_fn=lambda _key: {},
        tags_for_partition_key_fn=writes_tags,
    ),
    description="Download and ingest one Common Crawl file per run (partition = the file's part name).",
)

PARTITIONED_ASSETS = dg.AssetSelection.assets(commoncrawl_file)
