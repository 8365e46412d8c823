"""The automation conditions of near dedup -> (semantic dedup) -> curated -> catalog -> mixture -> tokenizer -> shards, evaluated with
``dg.evaluate_automation_conditions`` on an instance that records materializations and check results."""
import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationTargetMaterializationData

from pipelines import defs
from pipelines.automation import AUTOMATED_ASSETS

CURATED, CATALOG = dg.AssetKey("curated_documents"), dg.AssetKey("corpus_catalog")


def _requested(result) -> set[str]:
    return {k.to_user_string() for k in (r.key for r in result.results) if result.get_num_requested(k)}


def _check(instance, key: dg.AssetCheckKey, passed: bool) -> dg.AssetCheckEvaluation:
    """A check result on the asset's latest materialization (what a check step in the run records)."""
    [record] = instance.fetch_materializations(key.asset_key, limit=1).records
    target = AssetCheckEvaluationTargetMaterializationData(storage_id=record.storage_id, run_id=record.run_id,
                                                           timestamp=record.timestamp)
    return dg.AssetCheckEvaluation(asset_key=key.asset_key, check_name=key.name, passed=passed,
                                   severity=dg.AssetCheckSeverity.ERROR, target_materialization_data=target)


def test_the_tail_follows_an_upstream_update_and_waits_while_a_blocking_check_fails():
    instance = dg.DagsterInstance.ephemeral()
    graph = defs.resolve_asset_graph()
    blocking = sorted((k for k in graph.asset_check_keys if graph.get_check_spec(k).blocking), key=str)
    curated_gate = next(k for k in blocking if k.asset_key == CURATED)
    for key in graph.get_all_asset_keys():  # everything has been built once, every gate green
        if graph.get(key).is_materializable:
            instance.report_runless_asset_event(dg.AssetMaterialization(key))
    for key in blocking:
        instance.report_runless_asset_event(_check(instance, key, True))
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert _requested(first) == set()  # nothing updated since: nothing to do

    # near-dedup reran: the whole tail is requested in one tick (one run, whose blocking checks stop
    # what is downstream of a failure)
    instance.report_runless_asset_event(dg.AssetMaterialization(dg.AssetKey("near_duplicates")))
    second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert _requested(second) == set(AUTOMATED_ASSETS)

    # that run rebuilt the tail, every gate green: nothing left to do
    for name in AUTOMATED_ASSETS:
        _rebuild(instance, blocking, dg.AssetKey(name))
    third = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=second.cursor)
    assert _requested(third) == set()

    # curated_documents rebuilt by hand and one of its blocking checks failed: the catalog (and what
    # follows) waits, tick after tick
    _rebuild(instance, blocking, CURATED, failing=curated_gate)
    cursor = third.cursor
    for _ in range(2):
        blocked = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        assert _requested(blocked) == set()
        cursor = blocked.cursor

    # rebuilt again after a fix, every gate green: the rest of the tail is brought up to date
    _rebuild(instance, blocking, CURATED)
    fixed = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    assert _requested(fixed) == {"corpus_catalog", "mixture", "tokenizer", "token_shards"}


def _rebuild(instance, blocking, key: dg.AssetKey, failing: dg.AssetCheckKey | None = None) -> None:
    """What a run that materializes ``key`` records: the materialization, then its blocking checks on it."""
    instance.report_runless_asset_event(dg.AssetMaterialization(key))
    for check in blocking:
        if check.asset_key == key:
            instance.report_runless_asset_event(_check(instance, check, check != failing))


def test_only_the_tail_is_automated_and_its_sensor_is_off_by_default():
    graph = defs.resolve_asset_graph()
    automated = {k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).automation_condition}
    assert automated == set(AUTOMATED_ASSETS)
    sensor = defs.get_sensor_def("corpus_automation_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert {s.name for s in defs.schedules or []} == set()  # the monthly rebuild that re-ran nothing new is gone
