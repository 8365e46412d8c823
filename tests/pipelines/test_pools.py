"""The heavy steps are in op pools, and the instance's dagster.yaml limits each pool: a second DuckDB step
(of any run) waits for the first one's slot."""
import shutil
from pathlib import Path

import dagster as dg
import yaml

from assets.resources import DUCKDB_POOL, TRAINING_POOL
from pipelines import defs

REPO = Path(__file__).resolve().parents[2]


def test_the_duckdb_steps_and_training_are_in_their_pools():
    pools = {a.key.to_user_string(): a.op.pool for a in defs.assets
             if isinstance(a, dg.AssetsDefinition) and a.is_executable and a.op.pool}
    assert pools == {"cc_line_dedup": DUCKDB_POOL, "exact_dedup": DUCKDB_POOL, "corpus_catalog": DUCKDB_POOL,
                     "wikiref_classifier": DUCKDB_POOL, "pretrained_model": TRAINING_POOL}


def test_dagster_yaml_limits_every_pool_to_one_step_at_a_time(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    declared = yaml.safe_load((REPO / "dagster.yaml").read_text())["concurrency"]["pools"]["default_limit"]
    assert declared == 1
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_concurrency_config().pool_config.default_pool_limit == declared
        storage = instance.event_log_storage
        for pool in (DUCKDB_POOL, TRAINING_POOL):
            # what a step's executor does the first time it meets an unconfigured pool
            storage.initialize_concurrency_limit_to_default(pool)
            assert storage.get_concurrency_info(pool).slot_count == declared
            first = storage.claim_concurrency_slot(pool, "run-a", "exact_dedup")
            second = storage.claim_concurrency_slot(pool, "run-b", "corpus_catalog")
            assert first.is_claimed and not second.is_claimed
            storage.free_concurrency_slot_for_step("run-a", "exact_dedup")
            assert storage.claim_concurrency_slot(pool, "run-b", "corpus_catalog").is_claimed
