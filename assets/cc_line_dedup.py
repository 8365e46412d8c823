"""CCNet line-level dedup across a group of shards."""
from assets.cc_passthrough import passthrough_stage

cc_line_dedup = passthrough_stage("cc_line_dedup", "line_dedup", "commoncrawl_documents", "ingest", "CCNet line-level dedup across a group of shards.")
