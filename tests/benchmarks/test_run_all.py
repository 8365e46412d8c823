"""The committed benchmark report: benchmarks/BENCHMARKS.md is what run_all writes, with its date, machine
and command at the top."""
from benchmarks import run_all

REPORT = {"generated": "2026-12-01 16:30:00 UTC", "runs": 1, "command": "python -m benchmarks.run_all --runs 1",
          "machine": {"cores": 2, "affinity": 2, "cpu": "Some CPU", "memory_gib": 24.0, "platform": "Linux-x",
                      "python": "3.11.2", "loadavg_start": [1.0, 1.0, 1.0]},
          "stages": {"runs": 1, "peak_rss_mb": 100.0, "stages": {
              "parse": {"docs": 10, "mb": 1.0, "docs_per_s": 100.0, "mb_per_s": 10.0, "x_slower_than_gunzip": 3.0}}}}


def test_the_committed_report_names_date_machine_and_command_then_the_figures():
    text = run_all.committed_report(REPORT)
    head = text.splitlines()[:8]
    assert head[0] == "# Benchmarks"
    assert "- date: 2026-12-01 16:30:00 UTC" in head
    assert "- machine: Some CPU, 2 cores (2 usable), 24 GiB memory, Linux-x, Python 3.11.2" in head
    assert "- command: `python -m benchmarks.run_all --runs 1`" in head
    assert "| parse | 10 | 1.0 | 100 | 10.0 | 3.0 |" in text


def test_benchmarks_md_is_committed_as_run_all_writes_it():
    text = run_all.COMMITTED_REPORT.read_text()
    assert text.startswith("# Benchmarks\n")
    for field in ("- date: ", "- machine: ", "- command: `python -m benchmarks.run_all"):
        assert any(line.startswith(field) for line in text.splitlines()), field
    assert "## Per-stage throughput" in text


def test_the_llama3_stages_have_a_section_with_their_references():
    row = {"docs": 2088, "runs": 1, "cpu_s": 2.0, "docs_per_s_per_core": 1044.0}
    rows = {"url_filter": {**row, "reference": "datatrove URLFilter", "reference_docs_per_s_per_core": 800.0},
            "semantic_dedup": {**row, "reference": "none on CPU (NeMo Curator: GPU)", "reference_docs_per_s_per_core": None}}
    text = run_all.markdown({**REPORT, "llama3": {"input_docs": 2088, "copies": 6, "rows": rows}})
    assert "## LLaMA-3 stages, one core, with their references (same run)" in text
    assert "| url_filter | 2088 | 1 | 2.0 | 1044.0 | datatrove URLFilter | 800.0 |" in text
    assert "| semantic_dedup | 2088 | 1 | 2.0 | 1044.0 | none on CPU (NeMo Curator: GPU) |  |" in text
    assert "the samples' 348 web and C4 pages, 6 copies (2,088 documents" in text


def _scaling(executor: str, workers: int) -> dict:
    run = {"wall_s": 80.0, "cpu_s": 90.0, "peak_rss_mb": 800.0, "workers_peak_mb": 1200.0 if workers else 0.0,
           "load_average": "1.00 1.00 1.00", "documents": {"ingest": {"c4": 10}}}
    return {"executor": executor, "workers": workers, "scale": 10, "1x": run, "10x": {**run, "peak_rss_mb": 880.0},
            "time_ratio": 4.0, "cpu_ratio": 5.0, "rss_ratio": 1.1, "steps": []}


def test_the_scaling_sections_show_the_ray_drivers_peak_and_the_per_stage_worker_rates():
    text = run_all.markdown({**REPORT, "scaling": _scaling("in-process", 0), "scaling_ray": _scaling("ray", 2),
                             "ray_executor": {"input": {"bench_docs": 1800}, "table": "| work | tasks |"}})
    assert "executor in-process (0 Ray worker node(s)): peak RSS 1x 800 MB, 10x 880 MB: ratio 1.10 (goal <= 1.2)" in text
    assert "## Scaling under Ray: the driver's peak RSS, 1x and 10x" in text
    assert ("executor ray (2 Ray worker node(s)): driver peak RSS 1x 800 MB, 10x 880 MB: ratio 1.10 (goal <= 1.2)"
            in text)
    assert "Ray workers' peak (sum) 1x 1200 MB, 10x 1200 MB" in text
    assert "## Per-stage throughput on 1 vs 2 Ray worker nodes" in text and "1,800 derived WET documents" in text
    assert "| work | tasks |" in text
