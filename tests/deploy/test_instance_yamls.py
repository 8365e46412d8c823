"""Every Dagster instance YAML of the project (the root dagster.yaml and each deploy/*/dagster.yaml) loads with
the installed Dagster, and what it configures is instantiated: the PostgreSQL storage against a real server on
the loopback, the run queue with the local tag limits, the K8sRunLauncher on a faked pod service account. A
materialization is recorded in that storage; the whole build_corpus against it is a slow test."""
import shutil
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
import yaml
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from assets.commoncrawl_snapshot import INGEST_STRIPES, ingest_stripe_tag
from assets.resources import CorpusStorage, RawInputs
from assets.sources import ingest_assets
from pipelines import defs
from tests.pgserver import postgres_server

REPO = Path(__file__).resolve().parents[2]
INSTANCE_YAMLS = sorted(p.relative_to(REPO).as_posix() for p in [REPO / "dagster.yaml", *REPO.glob("deploy/**/dagster.yaml")])
POSTGRES_YAMLS = [p for p in INSTANCE_YAMLS if "postgres" in yaml.safe_load((REPO / p).read_text()).get("storage", {})]


def test_the_deploy_folder_has_the_instance_yamls_this_test_knows():
    assert INSTANCE_YAMLS == ["dagster.yaml", "deploy/celery/dagster.yaml", "deploy/k8s/dagster.yaml"]
    assert POSTGRES_YAMLS == ["deploy/celery/dagster.yaml", "deploy/k8s/dagster.yaml"]


@pytest.fixture(scope="module")
def pg_env():
    with postgres_server() as env:
        yield env


@pytest.fixture
def pod_environment(tmp_path, monkeypatch, pg_env):
    """DAGSTER_PG_* of the test server, and what a pod's service account gives the Kubernetes client."""
    from kubernetes.config import incluster_config

    for key, value in pg_env.items():
        monkeypatch.setenv(key, value)
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("test-token")
    (account / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(account / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(account / "ca.crt"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    return pg_env


def _instance(relpath: str, tmp_path: Path, monkeypatch) -> dg.DagsterInstance:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / relpath, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return dg.DagsterInstance.from_config(str(home))


def _tag_limits(relpath: str) -> list:
    return yaml.safe_load((REPO / relpath).read_text())["concurrency"]["runs"]["tag_concurrency_limits"]


def _runs_in_postgres(env: dict) -> list[tuple[str, str]]:
    with psycopg2.connect(host=env["DAGSTER_PG_HOST"], port=env["DAGSTER_PG_PORT"], user=env["DAGSTER_PG_USER"],
                          password=env["DAGSTER_PG_PASSWORD"], dbname=env["DAGSTER_PG_DB"]) as con:
        with con.cursor() as cur:
            cur.execute("SELECT run_id, status FROM runs")
            return cur.fetchall()


@pytest.mark.parametrize("relpath", INSTANCE_YAMLS)
def test_instance_yaml_instantiates_with_the_installed_dagster(relpath, tmp_path, monkeypatch, pod_environment,
                                                                samples_dir):
    declared = yaml.safe_load((REPO / relpath).read_text())
    with _instance(relpath, tmp_path, monkeypatch) as instance:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        queue = instance.get_concurrency_config().run_queue_config  # what the daemon dequeues by
        assert queue.max_concurrent_runs == declared["concurrency"]["runs"]["max_concurrent_runs"]
        assert [limit["key"] for limit in queue.tag_concurrency_limits] == [
            "corpus/writes", "dagster/partition", "corpus/stage", *map(ingest_stripe_tag, range(INGEST_STRIPES))]
        assert _tag_limits(relpath) == _tag_limits("dagster.yaml")  # the cluster queues runs as the local one does
        pools = instance.get_concurrency_config().pool_config  # the heavy steps' pools (tests/pipelines/test_pools.py)
        assert pools.default_pool_limit == declared["concurrency"]["pools"]["default_limit"] == 1
        launcher = instance.run_launcher
        if "run_launcher" in declared:
            assert type(launcher).__name__ == declared["run_launcher"]["class"]
            assert type(launcher).__module__.split(".")[0] == declared["run_launcher"]["module"]
            assert launcher.job_namespace == declared["run_launcher"]["config"]["job_namespace"]
        if relpath in POSTGRES_YAMLS:
            assert isinstance(instance.run_storage, PostgresRunStorage)
            assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
            assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        c4 = next(a for a in ingest_assets if a.key.path == ["c4_documents"])
        result = dg.materialize([c4], instance=instance, resources={
            "corpus_storage": CorpusStorage(data_root=str(tmp_path / "data")), "raw_inputs": RawInputs(raw_dir=str(samples_dir))})
        assert result.success
        assert instance.get_latest_materialization_event(dg.AssetKey("c4_documents")).run_id == result.run_id
    if relpath in POSTGRES_YAMLS:
        assert (result.run_id, "SUCCESS") in _runs_in_postgres(pod_environment)


@pytest.mark.slow
def test_build_corpus_runs_against_the_production_postgres_storage(tmp_path, monkeypatch, pod_environment, samples_dir):
    monkeypatch.setenv("CORPUS_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("CORPUS_RAW_DIR", str(samples_dir))
    with _instance("deploy/k8s/dagster.yaml", tmp_path, monkeypatch) as instance:
        result = defs.resolve_job_def("build_corpus").execute_in_process(instance=instance)
        assert result.success
        assert instance.get_latest_materialization_event(dg.AssetKey("token_shards")).run_id == result.run_id
        checks = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("token_shards"), "shard_manifest_checksums_valid"), limit=1)
        assert checks and checks[0].run_id == result.run_id
    assert (result.run_id, "SUCCESS") in _runs_in_postgres(pod_environment)
    assert (tmp_path / "data" / "shards" / "manifest.json").exists()
