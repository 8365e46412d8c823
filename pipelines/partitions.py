"""The Common Crawl file runs: ``commoncrawl_documents`` over ``commoncrawl_files`` partitions (one per file).

The sensor's run for a file carries ``corpus/writes=commoncrawl/<partition key>`` and one
``corpus/cc_ingest_NN`` stripe tag (``assets.commoncrawl_snapshot.writes_tags``); ``dagster.yaml`` lets one
run per value of the first, and per stripe, run at a time, and ``build_corpus`` holds every stripe, so the
queue never starts a file run beside another run of the same file or beside ``build_corpus``. The job
cannot derive those tags itself: Dagster 1.13 refuses a ``PartitionedConfig`` on a job whose asset has a
single-run backfill policy, so runs launched by hand or by a backfill carry only ``dagster/partition``
(also limited to one run per value: two runs of one file still never run at once).
"""

import dagster as dg

from assets.sources import commoncrawl_documents

INGEST_FILES_JOB = "ingest_commoncrawl_files"

ingest_commoncrawl_files = dg.define_asset_job(
    INGEST_FILES_JOB,
    selection=dg.AssetSelection.assets(commoncrawl_documents),
    description="Download and ingest Common Crawl files by partition (a partition = a file's part name).",
)
