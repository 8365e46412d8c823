"""``build_corpus``'s executor: Dagster's default one (multiprocess, or ``in_process`` by run config), after one
check in the run's own process, before any step starts: without ``CORPUS_RAW_DIR`` the ingest steps download
the default manifest, and when its hosts cannot be reached the run fails at once with the line that says so,
instead of every ingest step paying a process start to find out."""
import dagster as dg

from corpus import storage
from assets.resources import RawInputs
from corpus.inputs import HostUnreachable, check_hosts_reachable, load_manifest, mirrored, missing_from_cache


def check_default_inputs_reachable() -> None:
    """Raises ``dg.Failure`` (not retried) naming an unreachable host of the downloads a run still needs."""
    if storage.raw_dir() is not None:
        return
    missing = missing_from_cache(load_manifest(RawInputs().resolved_manifest()), storage.Layout.from_env().raw_cache)
    try:
        check_hosts_reachable(mirrored(e.url) for e in missing)
    except HostUnreachable as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


_DEFAULT = dg.multi_or_in_process_executor


class _InputsChecked(dg.Executor):
    """Dagster's executor, behind the check: a failed check is a run failure event (one line in the run's log),
    not a traceback out of the CLI."""

    def __init__(self, inner: dg.Executor):
        self._inner = inner

    @property
    def retries(self):
        return self._inner.retries

    @property
    def step_dependency_config(self):
        return self._inner.step_dependency_config

    def execute(self, plan_context, execution_plan):
        check_default_inputs_reachable()
        yield from self._inner.execute(plan_context, execution_plan)


def _create(init_context: dg.InitExecutorContext) -> dg.Executor:
    return _InputsChecked(_DEFAULT.executor_creation_fn(init_context))


inputs_checked_executor = dg.ExecutorDefinition(
    name="inputs_checked_executor",
    config_schema=_DEFAULT.config_schema.as_field(),
    requirements=_DEFAULT.get_requirements,
    executor_creation_fn=_create,
    description=__doc__,
)
