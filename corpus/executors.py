"""Where a stage's parts are built: in this process (the default) or as Ray tasks on a cluster.

``CORPUS_EXECUTOR`` picks the executor (``in-process`` or ``ray``). Under Ray, ``RAY_ADDRESS`` (Ray's own
variable) names the cluster; unset, a local Ray is started for this process and shut down when it exits.
Each part is one task with the resources of ``RayTaskResources`` (from ``CORPUS_RAY_TASK_*``); the task
builds its part on the worker, writing to the data root (shared storage: every node sees the same path or
bucket), and returns its ``PartStats``. Ray is imported only by the Ray executor.
"""
from __future__ import annotations

import logging
import os
import pickle
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol

from corpus.progress import Progress
from corpus.storage import Layout, PartStats, PartWriter

EXECUTOR_ENV = "CORPUS_EXECUTOR"
IN_PROCESS, RAY = "in-process", "ray"
EXECUTORS = (IN_PROCESS, RAY)
# where a worker's progress lines go (a worker has no Dagster context; Ray forwards worker logs to the driver)
WORKER_LOG = logging.getLogger("corpus.executors")


class _Log(Protocol):
    def info(self, msg: str) -> None: ...


@dataclass(frozen=True)
class PartJob:
    """What a worker needs to build one part. ``build`` must not capture the Dagster context (it is
    pickled for Ray); it gets a ``PartWriter`` and a ``Progress``."""

    layout: Layout
    stage: str
    source: str
    part: str
    fingerprint: str
    build: Callable[[PartWriter, Progress], None]
    label: str


def build_part(job: PartJob, log: _Log | None = None) -> PartStats:
    """Build one part through its ``PartWriter`` (temp files, renamed; the docs file last)."""
    progress = Progress(log if log is not None else WORKER_LOG, job.label)
    with PartWriter(job.layout, job.stage, job.source, job.part, job.fingerprint) as writer:
        job.build(writer, progress)
    progress.finish()
    return writer.stats


@dataclass
class ExecutionSummary:
    """What a stage's metadata says about where its work ran: the executor, the parts it built (part
    tasks), the side tasks of ``Executor.map`` (a hash part, a bucket, a band partition, a document range),
    the nodes any of them ran on, the built parts' input documents, the wall time of the part work
    (from submission to the last result; a stage's own passes and metadata are outside it) and that of
    the side work (in process: the side tasks' own time; under Ray: submission to the last result), from
    which the benchmarks derive each stage's rate. ``executor_tasks`` is part tasks + side tasks; no task,
    no node."""

    executor: str
    tasks: int = 0
    side_tasks: int = 0
    nodes: set[str] = field(default_factory=set)
    docs_in: int = 0
    seconds: float = 0.0
    side_seconds: float = 0.0

    def add(self, node: str, stats: PartStats) -> None:
        self.tasks += 1
        self.nodes.add(node)
        self.docs_in += stats.docs_in

    def add_side(self, node: str, seconds: float) -> None:
        self.side_tasks += 1
        self.nodes.add(node)
        self.side_seconds += seconds

    def metadata(self) -> dict[str, Any]:
        return {"executor": self.executor, "executor_nodes": len(self.nodes),
                "executor_tasks": self.tasks + self.side_tasks, "executor_part_tasks": self.tasks,
                "executor_side_tasks": self.side_tasks, "executor_docs_in": self.docs_in,
                "executor_seconds": round(self.seconds, 3), "executor_side_seconds": round(self.side_seconds, 3)}

    def line(self) -> str:
        return (f"executor {self.executor}: {self.tasks} part task(s) + {self.side_tasks} side task(s) "
                f"on {len(self.nodes)} node(s)")


# per step attempt (run id, asset key, retry number): the summary of all its work so far in this process
_STEP_SUMMARIES: dict[tuple[str, str, int], ExecutionSummary] = {}


def step_summary(run_id: str, step: str, attempt: int, executor: str) -> ExecutionSummary:
    """The one summary of a step attempt, shared by every ``run`` and ``map`` call in it. Keyed by the
    attempt: a step retried in the same process starts from zero, not from the failed attempt's tasks."""
    return _STEP_SUMMARIES.setdefault((run_id, step, attempt), ExecutionSummary(executor))


class InProcessExecutor:
    """Builds the parts one after the other in this process (the embedded default)."""

    name = IN_PROCESS

    def run(self, jobs: list[PartJob], log: _Log) -> Iterator[tuple[PartJob, PartStats, str]]:
        """(job, its stats, the node that built it), in the order of ``jobs``."""
        for job in jobs:
            yield job, build_part(job, log), "local"

    def map(self, fn: Callable[[Any], Any], items: list[Any], log: _Log, label: str,
            summary: ExecutionSummary | None = None) -> Iterator[Any]:
        """``fn(item)`` for each item, in order: the side work of a stage (a hash bucket, a document
        range, a part's scores) that is not a document part of its own; each one is a side task of
        ``summary``."""
        del log, label
        for item in items:
            started = time.monotonic()
            result = fn(item)
            if summary is not None:
                summary.add_side("local", time.monotonic() - started)
            yield result


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


@dataclass(frozen=True)
class RayTaskResources:
    """The resources every part task declares (Ray schedules by them; ``memory`` is logical, in bytes),
    and how often Ray reruns a task whose worker or node died (``max_retries``; an exception in the
    build itself is not retried: it would fail the same way)."""

    num_cpus: int = 1
    memory: int = 2 * 1024 ** 3
    max_retries: int = 3

    @classmethod
    def from_env(cls) -> "RayTaskResources":
        d = cls()
        return cls(num_cpus=_env_int("CORPUS_RAY_TASK_CPUS", d.num_cpus),
                   memory=_env_int("CORPUS_RAY_TASK_MEMORY", d.memory),
                   max_retries=_env_int("CORPUS_RAY_TASK_MAX_RETRIES", d.max_retries))


def _ray():
    """Ray, connected: to ``RAY_ADDRESS`` when set, else to a local Ray started here (bound to 127.0.0.1).
    Ray shuts the connection (and a local Ray it started) down when the process exits."""
    import ray

    if not ray.is_initialized():
        if os.environ.get("RAY_ADDRESS"):
            ray.init(log_to_driver=True, configure_logging=False)
        else:
            ray.init(address="local", include_dashboard=False, _node_ip_address="127.0.0.1",
                     log_to_driver=True, configure_logging=False)
    return ray


def _build_part_on_worker(job: PartJob) -> tuple[PartStats, str]:
    import ray

    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    return build_part(job), ray.get_runtime_context().get_node_id()


@dataclass
class RayExecutor:
    """One Ray task per part; results are collected in the order the parts were given."""

    resources: RayTaskResources = field(default_factory=RayTaskResources.from_env)
    name = RAY

    def run(self, jobs: list[PartJob], log: _Log) -> Iterator[tuple[PartJob, PartStats, str]]:
        """(job, its stats, the node that built it), in the order of ``jobs``."""
        if not jobs:
            return
        for job in jobs:
            _check_sendable(job, f"{job.stage}/{job.source} {job.part}: its build")
        ray = _ray()
        task = ray.remote(_build_part_on_worker).options(
            num_cpus=self.resources.num_cpus, memory=self.resources.memory,
            max_retries=self.resources.max_retries, retry_exceptions=False)
        refs = [task.remote(job) for job in jobs]
        alive = sum(1 for n in ray.nodes() if n.get("Alive"))
        log.info(f"{jobs[0].stage}/{jobs[0].source}: {len(refs)} part task(s) submitted to Ray ({alive} node(s) alive)")
        for job, ref in zip(jobs, refs):
            stats, node = ray.get(ref)
            yield job, stats, node

    def map(self, fn: Callable[[Any], Any], items: list[Any], log: _Log, label: str,
            summary: ExecutionSummary | None = None) -> Iterator[Any]:
        """``fn(item)`` for each item as one Ray task each (the part tasks' resources and retries);
        results in the order of ``items``, each one a side task of ``summary``. ``fn`` and the items
        must be picklable: module-level functions (or ``functools.partial`` of them), paths, settings."""
        if not items:
            return
        _check_sendable(fn, f"{label}: its function")
        for i, item in enumerate(items):
            _check_sendable(item, f"{label}: item {i}")
        ray = _ray()
        task = ray.remote(_map_on_worker).options(
            num_cpus=self.resources.num_cpus, memory=self.resources.memory,
            max_retries=self.resources.max_retries, retry_exceptions=False)
        last = time.monotonic()
        fn_ref = ray.put(fn)
        refs = [task.remote(fn_ref, item) for item in items]
        log.info(f"{label}: {len(refs)} task(s) submitted to Ray")
        for ref in refs:
            result, node = ray.get(ref)
            now = time.monotonic()  # each result is charged the wait since the previous one: the sum is the wall time
            if summary is not None:
                summary.add_side(node, now - last)
            yield result
            last = time.monotonic()  # the consumer's own time between results is not side work


def _map_on_worker(fn: Callable[[Any], Any], item: Any) -> tuple[Any, str]:
    import ray

    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    return fn(item), ray.get_runtime_context().get_node_id()


def _check_sendable(value: Any, what: str) -> None:
    """A clear error when a task's function or build captured something a worker cannot receive (the
    Dagster context, an open model handle, a lambda's closure), instead of Ray's serialization traceback."""
    from ray import cloudpickle

    try:
        cloudpickle.dumps(value)
    except (pickle.PicklingError, TypeError, AttributeError) as e:
        raise TypeError(f"{what} cannot be sent to a Ray worker ({e}); a task must capture only plain "
                        "settings, paths and lazily loaded models") from e


Executor = InProcessExecutor | RayExecutor


def executor_from_env() -> Executor:
    name = os.environ.get(EXECUTOR_ENV, IN_PROCESS) or IN_PROCESS
    if name not in EXECUTORS:
        raise ValueError(f"{EXECUTOR_ENV}={name!r}: expected one of {', '.join(EXECUTORS)}")
    return RayExecutor() if name == RAY else InProcessExecutor()
