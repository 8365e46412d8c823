"""The execution seam (corpus.executors): the executor comes from CORPUS_EXECUTOR, the in-process one builds
the parts a PartWriter would, a build that cannot be sent to a Ray worker is refused by name before any Ray
starts, and a model is loaded once per process however many unpickled filters use it."""
import json
import os
import pickle
import subprocess
import threading
import time
from pathlib import Path

import pytest

from corpus import executors, model_cache
from corpus.filters.wikiref import WikirefScorer
from corpus.schema import new_document
from corpus.part_runners import ingest_part
from corpus.storage import Layout, read_table
from quality_models.language_identifier import default_model_path

REPO = Path(__file__).resolve().parents[2]


def test_the_executor_comes_from_corpus_executor(monkeypatch):
    monkeypatch.delenv("CORPUS_EXECUTOR", raising=False)
    assert isinstance(executors.executor_from_env(), executors.InProcessExecutor)
    monkeypatch.setenv("CORPUS_EXECUTOR", "ray")
    assert isinstance(executors.executor_from_env(), executors.RayExecutor)
    monkeypatch.setenv("CORPUS_EXECUTOR", "spark")
    with pytest.raises(ValueError, match=r"CORPUS_EXECUTOR='spark': expected one of in-process, ray"):
        executors.executor_from_env()


def test_ray_task_resources_come_from_the_environment(monkeypatch):
    assert executors.RayTaskResources.from_env() == executors.RayTaskResources(1, 2 * 1024 ** 3, 3)
    monkeypatch.setenv("CORPUS_RAY_TASK_CPUS", "2")
    monkeypatch.setenv("CORPUS_RAY_TASK_MEMORY", "1073741824")
    assert executors.RayTaskResources.from_env() == executors.RayTaskResources(2, 1024 ** 3, 3)


def _job(layout: Layout, part: str, build) -> executors.PartJob:
    return executors.PartJob(layout, "ingest", "c4", part, "fp-" + part, build, f"ingest/c4 {part}")


def _two_docs(writer, progress) -> None:
    ingest_part(writer, [new_document("c4", "a:1", "first text"), new_document("c4", "a:2", "second")], progress)


class _Log:
    def __init__(self):
        self.lines = []

    def info(self, msg: str) -> None:
        self.lines.append(msg)


def test_in_process_builds_each_part_through_its_writer_in_order(tmp_path):
    layout, log = Layout(tmp_path), _Log()
    jobs = [_job(layout, "b", _two_docs), _job(layout, "a", _two_docs)]
    done = list(executors.InProcessExecutor().run(jobs, log))
    assert [(j.part, node) for j, _, node in done] == [("b", "local"), ("a", "local")]
    assert [(s.docs_in, s.docs_out, s.chars_in) for _, s, _ in done] == [(2, 2, 16), (2, 2, 16)]
    assert read_table(layout.part("docs", "ingest", "c4", "a")).column("text").to_pylist() == ["first text", "second"]
    assert [line.split(":")[0] for line in log.lines] == ["ingest/c4 b", "ingest/c4 a"]  # Progress.finish, per part
    summary = executors.ExecutionSummary("in-process")
    for _, stats, node in done:
        summary.add(node, stats)
    assert summary.metadata() == {"executor": "in-process", "executor_nodes": 1, "executor_tasks": 2,
                                  "executor_part_tasks": 2, "executor_side_tasks": 0, "executor_docs_in": 4,
                                  "executor_seconds": 0.0, "executor_side_seconds": 0.0}


def test_a_build_that_captured_unpicklable_state_is_refused_by_name_before_ray_starts(tmp_path, monkeypatch):
    lock = threading.Lock()  # what a captured Dagster context or open model handle amounts to

    def build(writer, progress, lock=lock) -> None:
        _two_docs(writer, progress)

    monkeypatch.setattr(executors, "_ray", lambda: pytest.fail("Ray must not start"))
    with pytest.raises(TypeError, match=r"ingest/c4 p1: its build cannot be sent to a Ray worker"):
        list(executors.RayExecutor().run([_job(Layout(tmp_path), "p1", build)], _Log()))


def test_an_unpickled_scorer_uses_the_model_this_process_already_loaded():
    path = default_model_path()
    scorer = WikirefScorer(path)
    copies = [pickle.loads(pickle.dumps(scorer)) for _ in range(3)]
    model_cache.fasttext_model.cache_clear()
    scores = [c.score_prepared(["some text to classify"]) for c in [scorer, *copies]]
    info = model_cache.fasttext_model.cache_info()
    assert (info.misses, info.hits) == (1, 3)
    assert all(len(s) == 1 for s in scores)


def test_in_process_map_returns_each_result_in_the_order_of_the_items():
    seen = []

    def square(x):
        seen.append(x)
        return x * x

    summary = executors.ExecutionSummary("in-process")
    results = executors.InProcessExecutor().map(square, [3, 1, 2], log=None, label="squares", summary=summary)
    assert seen == []  # lazy: the caller streams the results
    assert list(results) == [9, 1, 4]
    assert seen == [3, 1, 2]
    assert (summary.tasks, summary.side_tasks, summary.nodes) == (0, 3, {"local"})
    assert summary.line() == "executor in-process: 0 part task(s) + 3 side task(s) on 1 node(s)"


def test_in_process_side_seconds_are_the_tasks_own_time_not_the_consumers():
    """The benchmarks' side-work rate divides by ``executor_side_seconds``: the time spent in ``fn``, not the
    time the caller spends between results."""
    summary = executors.ExecutionSummary("in-process")
    for _ in executors.InProcessExecutor().map(time.sleep, [0.05, 0.05], log=None, label="naps", summary=summary):
        time.sleep(0.3)
    assert 0.1 <= summary.side_seconds < 0.3
    assert summary.metadata()["executor_side_seconds"] == round(summary.side_seconds, 3)


def test_a_map_function_that_cannot_be_sent_is_refused_by_name_before_ray_starts(monkeypatch):
    lock = threading.Lock()
    monkeypatch.setattr(executors, "_ray", lambda: pytest.fail("Ray must not start"))
    with pytest.raises(TypeError, match=r"exact_dedup buckets: its function cannot be sent to a Ray worker"):
        list(executors.RayExecutor().map(lambda x, lock=lock: x, [1], _Log(), "exact_dedup buckets"))
    with pytest.raises(TypeError, match=r"exact_dedup buckets: item 1 cannot be sent to a Ray worker"):
        list(executors.RayExecutor().map(abs, [1, lock], _Log(), "exact_dedup buckets"))


@pytest.mark.slow
def test_ray_map_returns_results_in_item_order_and_retries_an_item_whose_worker_died(tmp_path):
    """A local Ray (tests/ray_map_probe.py, inside ``unshare -n``: loopback only; ~15 s to start): four
    items, one of whose workers kills itself on the first attempt; Ray reruns it, the results come back in
    item order and each item counts as one side task however many attempts it took."""
    from tests.ray_loopback import loopback_command, require_private_netns

    require_private_netns()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run(loopback_command(str(tmp_path), target="-m tests.ray_map_probe"), cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"results": [25, 4, 9, 1], "side_tasks": 4, "nodes": 1,
                      "attempts": {"5": 1, "2": 2, "3": 1, "1": 1}}
