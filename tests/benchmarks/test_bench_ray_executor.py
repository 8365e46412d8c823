"""The Ray benchmarks' bookkeeping: which child processes count as Ray workers (the figure reported next to the
driver's RSS), and the per-stage rows and snapshot core-hours derived from the stages' executor metadata."""
import pytest

from benchmarks import bench_ray_executor
from benchmarks.profile_scaling_memory import OTHER, RAY_DAEMON, RAY_WORKER, process_kind


@pytest.mark.parametrize("cmdline, kind", [
    ("ray::_map_on_worker", RAY_WORKER),
    ("ray::IDLE", RAY_WORKER),
    ("/venv/bin/python /venv/site-packages/ray/_private/workers/default_worker.py --node-ip-address=127.0.0.1", RAY_WORKER),
    ("ray::DashboardAgent", RAY_DAEMON),
    ("ray::RuntimeEnvAgent", RAY_DAEMON),
    ("/venv/site-packages/ray/core/src/ray/raylet/raylet --node_ip_address=127.0.0.1", RAY_DAEMON),
    ("/venv/site-packages/ray/core/src/ray/gcs/gcs_server --gcs_server_port=0", RAY_DAEMON),
    ("lmplz -o 5 --discount_fallback", OTHER),
])
def test_a_child_process_is_classed_by_its_command_line(cmdline, kind):
    assert process_kind(cmdline.split()) == kind


STAGES = {
    "commoncrawl_documents": {"executor": "ray", "executor_part_tasks": 4, "executor_side_tasks": 0,
                              "executor_docs_in": 1000, "executor_seconds": 10.0, "executor_side_seconds": 0.0,
                              "docs_in": 1000, "docs_out": 900},
    "cc_line_dedup": {"executor": "ray", "executor_part_tasks": 4, "executor_side_tasks": 8, "executor_docs_in": 900,
                      "executor_seconds": 3.0, "executor_side_seconds": 2.0, "docs_in": 900, "docs_out": 800},
    "cc_wikiref": {"executor": "ray", "executor_part_tasks": 4, "executor_side_tasks": 0, "executor_docs_in": 500,
                   "executor_seconds": 5.0, "executor_side_seconds": 0.0, "docs_in": 500, "docs_out": 250},
    "minhash_signatures": {"executor": "ray", "executor_part_tasks": 0, "executor_side_tasks": 6,
                           "executor_docs_in": 0, "executor_seconds": 0.0, "executor_side_seconds": 4.0, "docs": 400},
    "token_shards": {"executor": "ray", "executor_part_tasks": 0, "executor_side_tasks": 3, "executor_docs_in": 0,
                     "executor_seconds": 0.0, "executor_side_seconds": 2.0, "train_tokens": 10_000},
}


def test_each_stage_gives_a_row_for_its_part_work_and_one_for_its_side_work():
    rows = bench_ray_executor.work_rows(STAGES)
    assert {name: (r["count"], r["unit"], r["tasks"], bench_ray_executor.rate(r)) for name, r in rows.items()} == {
        "cc_line_dedup parts": (900, "docs", 4, 300.0), "cc_line_dedup side": (900, "docs", 8, 450.0),
        "cc_wikiref parts": (500, "docs", 4, 100.0), "commoncrawl_documents parts": (1000, "docs", 4, 100.0),
        "minhash_signatures side": (400, "docs", 6, 100.0), "token_shards side": (10_000, "tokens", 3, 5000.0)}


def test_the_snapshot_core_hours_scale_each_work_by_the_documents_that_reach_it():
    rows = bench_ray_executor.work_rows(STAGES)
    extra = bench_ray_executor.extrapolate(rows, STAGES, bytes_per_doc=24e12 / 3.6e6)  # a snapshot of 3.6 M documents
    hours = extra["core_hours_per_work"]
    assert extra["snapshot_docs"] == pytest.approx(3.6e6)
    # ingest: all 3.6 M at 100/s; line dedup 90% at 300/s and 450/s; wikiref 50% at 100/s
    assert hours["commoncrawl_documents parts"] == pytest.approx(10.0)
    assert hours["cc_line_dedup parts"] == pytest.approx(3.0)
    assert hours["cc_line_dedup side"] == pytest.approx(2.0)
    assert hours["cc_wikiref parts"] == pytest.approx(5.0)
    assert hours["minhash_signatures side"] == pytest.approx(2.5)  # the 25% of documents cc_wikiref kept, at 100/s
    assert "token_shards side" not in hours  # tokens, not part of the mining pipeline CCNet's figure covers
    assert extra["core_hours_cc_chain"] == pytest.approx(20.0)
    assert extra["core_hours"] == pytest.approx(22.5)
