"""Dagster's standard metadata on the assets that write Parquet parts: ``dagster/row_count`` (documents
in the stage's parts) and ``dagster/column_schema`` (the document schema), what the catalog page shows."""
import shutil

import dagster as dg
import pytest

from assets.stages import step_summary
from corpus import recipe
from corpus.executors import executor_from_env
from corpus.schema import DOCUMENT_SCHEMA
from corpus.storage import Layout, read_table
from pipelines import defs


@pytest.fixture
def two_c4_files(tmp_path, samples_dir, monkeypatch):
    """A raw folder of two real C4 files; the data root in tmp_path."""
    raw = tmp_path / "raw" / "c4"
    raw.mkdir(parents=True)
    for name in ("c4-sample.01.json.gz", "c4-sample.02.json.gz"):
        shutil.copy(samples_dir / "c4" / name, raw)
    monkeypatch.setenv("CORPUS_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("CORPUS_RAW_DIR", str(tmp_path / "raw"))


def test_ingest_and_dedup_report_row_count_and_column_schema(tmp_path, two_c4_files):
    result = defs.resolve_job_def("build_corpus").execute_in_process(
        asset_selection=[dg.AssetKey("c4_documents"), dg.AssetKey("exact_dedup")])
    assert result.success
    layout = Layout(tmp_path / "data")
    for node, stage in (("c4_documents", "ingest"), ("exact_dedup", "exact_dedup")):
        md = result.asset_materializations_for_node(node)[0].metadata
        rows = sum(read_table(p).num_rows for p in layout.parts("docs", stage, "c4"))
        assert md["dagster/row_count"].value == rows == md["docs_out"].value > 0
        columns = md["dagster/column_schema"].schema.columns
        assert [(c.name, c.type) for c in columns] == [(f.name, str(f.type)) for f in DOCUMENT_SCHEMA]
        assert [c.name for c in columns if not c.constraints.nullable] == ["id", "source", "text"]
    assert result.asset_materializations_for_node("c4_documents")[0].metadata["dagster/row_count"].value == 20


def test_every_part_stage_names_its_executor_and_counts_tasks_and_nodes(two_c4_files, monkeypatch):
    """In-process (the default): each built part is one part task on one node, each hash part and hash
    bucket of exact dedup one side task; a rerun builds no part and hashes nothing again, but groups the
    buckets again (they are not cached)."""
    monkeypatch.delenv("CORPUS_EXECUTOR", raising=False)
    job = defs.resolve_job_def("build_corpus")
    selection = [dg.AssetKey("c4_documents"), dg.AssetKey("exact_dedup")]
    buckets = recipe.EXACT_DEDUP_HASH_BUCKETS
    # (part tasks, side tasks, nodes) per node, first run then rerun
    expected = {"c4_documents": [(2, 0, 1), (0, 0, 0)], "exact_dedup": [(2, 2 + buckets, 1), (0, buckets, 1)]}
    for run in (0, 1):
        result = job.execute_in_process(asset_selection=selection)
        assert result.success
        for node in ("c4_documents", "exact_dedup"):
            md = {k: v.value for k, v in result.asset_materializations_for_node(node)[0].metadata.items()}
            parts, side, nodes = expected[node][run]
            assert (md["executor"], md["executor_part_tasks"], md["executor_side_tasks"], md["executor_tasks"],
                    md["executor_nodes"]) == ("in-process", parts, side, parts + side, nodes)
            assert md["docs_out"] > 0
            # the built parts' input documents: all of them in the first run, none when every part is skipped
            assert md["executor_docs_in"] == (md["docs_in"] if parts else 0)


def test_a_retried_step_reports_its_last_attempts_tasks_only(monkeypatch):
    """Dagster retries a failed step in the same run (same process in-process): the metadata counts the
    attempt that succeeded, not the side tasks the failed one had already run."""
    monkeypatch.delenv("CORPUS_EXECUTOR", raising=False)

    @dg.asset(retry_policy=dg.RetryPolicy(max_retries=1))
    def flaky(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        summary = step_summary(context)
        done = list(executor_from_env().map(abs, [-1, -2, -3][context.retry_number:], context.log, "flaky", summary))
        if context.retry_number == 0:
            raise RuntimeError("the first attempt fails after its side tasks")
        return dg.MaterializeResult(metadata={"done": done, **summary.metadata()})

    result = dg.materialize([flaky])
    md = {k: v.value for k, v in result.asset_materializations_for_node("flaky")[0].metadata.items()}
    assert (md["done"], md["executor_tasks"], md["executor_side_tasks"], md["executor_nodes"]) == ([2, 3], 2, 2, 1)
