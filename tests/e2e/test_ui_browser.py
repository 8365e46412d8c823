"""The web UI in a real headless Chromium against `dagster dev`: the asset graph, the lineage from the raw source
assets, and an asset page with plots.

Assets are materialized first (CLI, in a subprocess) into the same DAGSTER_HOME and data root, so the UI
has materializations whose metadata holds a plot (`corpus_catalog`'s funnel). Screenshots land in
`test-artifacts/` at the repository root (git-ignored) for a human to look at.
"""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from tests.e2e.cdp import Browser
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
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}  # one process: the materialization is only set-up here

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
    done = subprocess.run([DAGSTER, "asset", "materialize", "-m", "pipelines", "--select", ",".join(selection),
                           "--config-json", json.dumps(IN_PROCESS)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    port = _free_port()
    process = start_dagster_dev(env, port)
    try:
        wait_for_asset_graph(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


@pytest.fixture
def browser(tmp_path):
    b = Browser(CHROMIUM, FLAGS, tmp_path / "profile")
    try:
        yield b
    finally:
        b.close()


def _open(browser: Browser, url: str, expect: str) -> None:
    browser.goto(url)
    browser.wait_for(f"document.body && document.body.innerText.includes({json.dumps(expect)})", what=expect)
    _dismiss_dialog(browser)


def _dismiss_dialog(browser: Browser, settle_s: float = 2.0) -> None:
    """The UI's first-visit "Join the Dagster community" dialog pops up a moment after a page loads."""
    time.sleep(settle_s)
    if "Join the Dagster community" in browser.evaluate("document.body.innerText") and browser.click_text("Skip"):
        browser.wait_for("!document.body.innerText.includes('Join the Dagster community')", what="the dialog closed")


def _shot(browser: Browser, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    _dismiss_dialog(browser, settle_s=0)
    out = browser.screenshot(ARTIFACTS / name)
    assert out.stat().st_size > 10_000, f"{out} is (nearly) empty"
    return out


def test_the_asset_graph_renders_the_groups_and_the_assets(ui, browser):
    _open(browser, f"{ui}/asset-groups", "Global asset lineage")
    browser.wait_for("['ingest', 'dedup', 'catalog'].every(g => document.body.innerText.includes(g))", what="the groups")
    _shot(browser, "ui_asset_graph.png")
    _open(browser, f"{ui}/locations/pipelines/asset-groups/ingest", "c4_documents")
    browser.wait_for("document.body.innerText.includes('Materialized')", what="c4_documents' materialization")
    _shot(browser, "ui_ingest_group.png")
    # the graph draws only the nodes in view: the partitioned ingest asset is checked on its own page
    _open(browser, f"{ui}/assets/commoncrawl_documents", "commoncrawl_documents")
    browser.wait_for("document.body.innerText.includes('Partitions')", what="the Common Crawl files' partitions tab")


def test_the_lineage_starts_at_the_raw_source_assets(ui, browser):
    """exact_dedup's upstream lineage, two levels: the raw source assets -> the ingest assets -> exact_dedup."""
    _open(browser, f"{ui}/assets/exact_dedup?view=lineage&lineageScope=upstream&lineageDepth=2", "raw_c4")
    sources = [f"raw_{s}" for s in ("c4", "github", "wikipedia", "books", "arxiv", "stackexchange")]
    browser.wait_for(f"{json.dumps(sources)}.every(k => document.body.innerText.includes(k))", what="the raw sources")
    browser.wait_for("document.body.innerText.includes('c4_documents')", what="an ingest asset below its source")
    _shot(browser, "ui_lineage_from_raw_sources.png")


def test_an_asset_page_renders_its_plot(ui, browser):
    _open(browser, f"{ui}/assets/{PLOT_ASSET}", "funnel_plot")
    # markdown over 1,000 characters sits behind "[Show Markdown]" in the metadata table: open it
    row = "[...document.querySelectorAll('tr')].find(r => r.innerText.trim().startsWith('funnel_plot'))"
    browser.wait_for(f"!!({row})", what="the funnel_plot metadata row")
    assert browser.click_text("[Show Markdown]", within=row)
    image = "document.querySelector('img[src^=\"data:image/png;base64,\"]')"
    browser.wait_for(f"!!{image} && {image}.complete && {image}.naturalWidth > 0", what="the decoded funnel plot")
    width, height = browser.evaluate(f"[{image}.naturalWidth, {image}.naturalHeight]")
    assert width >= 300 and height >= 200  # a real plot, decoded by the browser
    assert 'src="data:image/png;base64,' in browser.html()
    _shot(browser, "ui_corpus_catalog_funnel_plot.png")
