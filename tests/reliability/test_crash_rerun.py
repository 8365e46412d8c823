"""Kill -9 the main job mid-stage, rerun it, and get exactly the bytes of an uninterrupted run."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[2]
RUN_JOB = "from pipelines import defs; assert defs.resolve_job_def('build_corpus').execute_in_process().success"


def run_job(data_root: Path, samples_dir: Path, crash_at: str | None = None) -> int:
    env = dict(os.environ, CORPUS_DATA_ROOT=str(data_root), CORPUS_RAW_DIR=str(samples_dir))
    env.pop("CORPUS_CRASH_AT", None)
    if crash_at:
        env["CORPUS_CRASH_AT"] = crash_at
    done = subprocess.run([sys.executable, "-c", RUN_JOB], cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    if crash_at is None:
        assert done.returncode == 0, done.stderr[-3000:]
    return done.returncode


def output_bytes(root: Path) -> dict[str, bytes]:
    """Every data output of the run: the Parquet parts and tables, the token shards (flat and Megatron) and
    their manifest, by relative path (model folders are compared by their Parquet/shard products, since a model's own
    manifest records its training time)."""
    files = [p for p in root.rglob("*.parquet") if "models" not in p.relative_to(root).parts]
    files += [p for p in (root / "shards").rglob("*") if p.is_file()]
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, samples_dir) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("reference") / "data"
    run_job(root, samples_dir)
    return output_bytes(root)


@pytest.mark.parametrize("crash_at", [
    pytest.param("write:ingest:1", marks=pytest.mark.slow),  # mid-ingest
    "write:exact_dedup:2",  # mid-dedup
    pytest.param("write:near_dedup:1", marks=pytest.mark.slow),  # mid near-dedup
    "shard:1",  # mid-shard writing: the first token shard written but not yet renamed
])
def test_kill_9_then_rerun_gives_identical_outputs(crash_at, reference, tmp_path, samples_dir):
    root = tmp_path / "data"
    assert run_job(root, samples_dir, crash_at) == -signal.SIGKILL
    run_job(root, samples_dir)
    after = output_bytes(root)
    assert sorted(after) == sorted(reference)
    assert [k for k in reference if after[k] != reference[k]] == []
    assert [p for p in root.rglob("*.tmp-*")] == []
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    n, unique = con.execute("SELECT count(*), count(DISTINCT id) FROM documents").fetchone()
    assert n == unique > 0
