"""The run queue (a real instance from the repo's dagster.yaml, its QueuedRunCoordinator and the queue
daemon's own dequeue decision) never has a Common Crawl partition run and build_corpus in progress at
once: build_corpus's stale-temp cleanup of the commoncrawl ingest stage would delete the partition runs'
in-flight temp files. Partition runs still run side by side."""
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.test_utils import create_run_for_test
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

from assets.commoncrawl_snapshot import INGEST_STRIPES, ingest_stripe_tag, writes_tags
from corpus import snapshots
from pipelines import defs
from pipelines.partitions import INGEST_FILES_JOB
from pipelines.sensors import BUILD_JOB, SensorSettings, raw_files_sensor_for
from assets.resources import RawInputs

REPO = Path(__file__).resolve().parents[2]
QUEUED, STARTED = dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTED


def _keys_by_stripe() -> dict[int, list[str]]:
    """Real-looking WET partition keys, grouped by the stripe their run holds."""
    out: dict[int, list[str]] = {}
    for i in range(200):
        key = snapshots.partition_key(f"CC-MAIN-2024-22/segments/1715971057216.39/wet/CC-MAIN-2024-{i:05d}.warc.wet.gz")
        [stripe] = [s for s in range(INGEST_STRIPES) if ingest_stripe_tag(s) in writes_tags(key)]
        out.setdefault(stripe, []).append(key)
    return out


KEYS = _keys_by_stripe()


@pytest.fixture
def instance(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as inst:
        assert isinstance(inst.run_coordinator, QueuedRunCoordinator)
        yield inst


def _build_tags(tmp_path) -> dict[str, str]:
    """What the raw-folder sensor's build_corpus run carries: the job's tags and the request's."""
    raw = tmp_path / "raw" / "c4"
    raw.mkdir(parents=True)
    (raw / "x.json").write_text("{}\n")
    sensor = raw_files_sensor_for(SensorSettings(settle_s=0))
    with dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(),
                                 resources={"raw_inputs": RawInputs(raw_dir=str(tmp_path / "raw"))}) as context:
        [request] = sensor(context).run_requests
    return {**defs.resolve_job_def(BUILD_JOB).tags, **request.tags}


def _partition_tags(key: str) -> dict[str, str]:
    """What the snapshot sensor's run of a file carries: the job's partition tag and the request's tags."""
    return {**defs.resolve_job_def(INGEST_FILES_JOB).get_tags_for_partition_key(key, None), **writes_tags(key)}


def _run(instance, job: str, tags: dict[str, str], status=QUEUED) -> str:
    origin = RemoteJobOrigin(RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("llama_corpus"), "__repository__"), job)
    return create_run_for_test(instance, job_name=job, status=status, tags=tags, remote_job_origin=origin).run_id


def _dequeued(instance) -> list[str]:
    """The runs the queue daemon would launch now, in order (its own decision, with the instance's limits)."""
    runs = QueuedRunCoordinatorDaemon(interval_seconds=1)._get_runs_to_dequeue(
        instance, instance.get_concurrency_config(), fixed_iteration_time=None)
    return [r.run_id for r in runs]


def test_build_corpus_and_partition_runs_queued_together_never_start_together(instance, tmp_path):
    build = _build_tags(tmp_path)
    first = _run(instance, INGEST_FILES_JOB, _partition_tags(KEYS[0][0]))
    _run(instance, BUILD_JOB, build)
    second = _run(instance, INGEST_FILES_JOB, _partition_tags(KEYS[1][0]))
    assert _dequeued(instance) == [first, second]  # the partitions go; build_corpus waits for them


def test_build_corpus_queued_first_holds_back_every_partition_run(instance, tmp_path):
    whole = _run(instance, BUILD_JOB, _build_tags(tmp_path))
    for stripe in range(INGEST_STRIPES):
        _run(instance, INGEST_FILES_JOB, _partition_tags(KEYS[stripe][0]))
    assert _dequeued(instance) == [whole]


def test_a_partition_run_in_flight_holds_back_build_corpus_and_the_reverse(instance, tmp_path):
    build = _build_tags(tmp_path)
    running = _run(instance, INGEST_FILES_JOB, _partition_tags(KEYS[5][0]), status=STARTED)
    _run(instance, BUILD_JOB, build)
    assert _dequeued(instance) == []  # a backfill's run is writing: build_corpus stays queued
    instance.report_run_canceled(instance.get_run_by_id(running))
    _run(instance, BUILD_JOB, build, status=STARTED)
    assert _dequeued(instance) == []  # now build_corpus runs: the queued one and the partitions wait
    _run(instance, INGEST_FILES_JOB, _partition_tags(KEYS[3][0]))
    assert _dequeued(instance) == []


def test_partition_runs_on_different_stripes_still_run_side_by_side(instance):
    limit = instance.get_concurrency_config().run_queue_config.max_concurrent_runs
    side_by_side = [_run(instance, INGEST_FILES_JOB, _partition_tags(KEYS[s][0])) for s in range(limit)]
    same_stripe = _run(instance, INGEST_FILES_JOB, _partition_tags(KEYS[0][1]))
    assert _dequeued(instance) == side_by_side and same_stripe not in side_by_side


def test_runs_of_one_file_launched_by_hand_never_start_together(instance):
    """Runs not requested by the sensor (the launchpad, `dg launch --partition`, a backfill) carry only the
    job's partition tag: two of the same file still wait for each other, two of different files do not."""
    by_hand = defs.resolve_job_def(INGEST_FILES_JOB).get_tags_for_partition_key
    first, other = (_run(instance, INGEST_FILES_JOB, by_hand(KEYS[s][0], None)) for s in (0, 1))
    same_file = _run(instance, INGEST_FILES_JOB, by_hand(KEYS[0][0], None))
    assert _dequeued(instance) == [first, other] and same_file not in _dequeued(instance)


@pytest.mark.parametrize("config", ["dagster.yaml", "deploy/k8s/dagster.yaml", "deploy/celery/dagster.yaml"])
def test_every_instance_config_limits_every_stripe_to_one_run(config):
    data = yaml.safe_load((REPO / config).read_text())
    queue = data.get("concurrency", {}).get("runs") or data["run_coordinator"]["config"]
    limits = {(r["key"], str(r.get("value"))): r["limit"] for r in queue["tag_concurrency_limits"]}
    assert all(limits.get((ingest_stripe_tag(s), "None")) == 1 for s in range(INGEST_STRIPES))
    assert limits[("dagster/partition", "{'applyLimitPerUniqueValue': True}")] == 1
    assert len(KEYS) == INGEST_STRIPES  # the 200 keys above spread over every stripe
