"""What CI runs (.ci/run -> make test -> pytest with the project's options) includes the slow tests: the
headline claims (CLI end to end, parallel partitions, kill -9 mid-ingest, LID accuracy, model vs
unigram) are checked on every run, not only when someone remembers ``-m slow``."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_default_pytest_run_collects_the_slow_tests():
    assert "make test" in (REPO / ".ci" / "run").read_text()
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/test_cli.py",
                          "tests/assets/test_commoncrawl_partitions.py"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    collected = out.stdout
    assert "test_cli.py::test_dg_launch_job_build_corpus_writes_catalog_and_both_shard_formats" in collected
    assert "test_two_partitions_in_parallel_with_the_multiprocess_executor" in collected
    assert "deselected" not in collected
