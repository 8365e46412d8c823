"""Schedules: the monthly rebuild of the mixture and the token shards (off until switched on in the UI)."""

import dagster as dg


TOKENS_GROUP = "tokens"
MONTHLY_CRON = "0 3 1 * *"  # 03:00 UTC on the 1st: after a month's snapshot has been ingested

rebuild_token_shards = dg.define_asset_job(
    "rebuild_token_shards",
    selection=dg.AssetSelection.groups(TOKENS_GROUP),
    description="Recompute the mixture, tokenizer and token shards from the current curated corpus.",
    tags={"corpus/stage": "corpus-wide"},
)

monthly_token_rebuild = dg.ScheduleDefinition(
    name="monthly_token_rebuild",
    job=rebuild_token_shards,
    cron_schedule=MONTHLY_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Monthly rebuild of the mixture and shards (group `tokens`); stopped by default.",
)
