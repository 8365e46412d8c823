"""The web UI in a real headless Chromium against `dagster dev`: the asset graph and an asset page with plots.

Assets are materialized first (CLI, in a subprocess) into the same DAGSTER_HOME and data root, so the UI
has materializations whose metadata holds a plot (`corpus_catalog`'s funnel). Screenshots land in
`test-artifacts/` at the repository root (git-ignored) for a human to look at.
"""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import dagster as dg
import pytest

from tests.test_cli import _free_port, start_dagster_dev, stop, wait_for_asset_graph

REPO = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).with_name("dagster"))
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PLOT_ASSET = "corpus_catalog"
SKIP_GROUPS = {"ccnet", "quality_models", "tokens", "training"}  # not needed for c4 -> catalog, and slow
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
         "--window-size=1600,1000"]
VIRTUAL_TIME_MS = 20000

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/setup.sh installs it: apt-get install chromium)")]


def c4_to_catalog_selection() -> list[str]:
    """The assets on the way from c4_documents to corpus_catalog (read from the graph, not hard-coded)."""
    from pipelines import defs

    graph = defs.resolve_asset_graph()
    down, up = {"c4_documents"}, {PLOT_ASSET}
    for seen, step in ((down, "child_keys"), (up, "parent_keys")):
        frontier = list(seen)
        while frontier:
            for k in getattr(graph.get(dg.AssetKey(frontier.pop())), step):
                name = k.to_user_string()
                if name not in seen:
                    seen.add(name)
                    frontier.append(name)
    nodes = {k: graph.get(dg.AssetKey(k)) for k in down & up}
    return sorted(k for k, node in nodes.items() if node.group_name not in SKIP_GROUPS and not node.is_partitioned)


def chromium(*args: str, timeout: float = 180) -> str:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={VIRTUAL_TIME_MS}", *args],
                              capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def ui(tmp_path_factory, samples_dir):
    tmp = tmp_path_factory.mktemp("ui")
    raw = tmp / "raw"
    shutil.copytree(samples_dir / "c4", raw / "c4")
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = dict(os.environ, DAGSTER_HOME=str(home), CORPUS_DATA_ROOT=str(tmp / "data"), CORPUS_RAW_DIR=str(raw))
    selection = c4_to_catalog_selection()
    assert {"c4_documents", "exact_dedup", "curated_documents", PLOT_ASSET} <= set(selection)
    done = subprocess.run([DAGSTER, "asset", "materialize", "-m", "pipelines", "--select", ",".join(selection)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    port = _free_port()
    process = start_dagster_dev(env, port)
    try:
        wait_for_asset_graph(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def _shot(url: str, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    out = ARTIFACTS / name
    out.unlink(missing_ok=True)
    chromium(f"--screenshot={out}", url)
    assert out.exists() and out.stat().st_size > 10_000, f"no screenshot of {url}"
    return out


def test_the_asset_graph_page_renders_the_assets(ui):
    dom = chromium("--dump-dom", f"{ui}/asset-groups")
    for name in ("c4_documents", "commoncrawl_wet_file", "curated_documents", PLOT_ASSET):
        assert name in dom, f"{name} not on the asset graph page"
    _shot(f"{ui}/asset-groups", "ui_asset_graph.png")


def test_an_asset_page_shows_its_plot(ui):
    dom = chromium("--dump-dom", f"{ui}/assets/{PLOT_ASSET}")
    assert PLOT_ASSET in dom
    assert "<img" in dom and 'src="data:image/png;base64,' in dom, "the funnel plot was not rendered as an image"
    _shot(f"{ui}/assets/{PLOT_ASSET}", "ui_corpus_catalog.png")
