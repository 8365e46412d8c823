"""The PNG plot helpers: real PNGs, deterministic bytes, cut-off lines, markdown data URIs."""
import base64
import io

import pytest
from matplotlib import image as mpimg

from corpus import plots

FUNNEL = [("c4", "ingest", 30, 30), ("c4", "exact_dedup", 30, 28), ("commoncrawl", "line_dedup", 12, 9)]


def _pixels(png: bytes):
    return mpimg.imread(io.BytesIO(png), format="png")


def test_funnel_plot_is_a_deterministic_png_from_rows_or_mappings():
    png = plots.funnel_plot(FUNNEL)
    assert png.startswith(b"\x89PNG") and png == plots.funnel_plot(FUNNEL)
    as_dicts = [dict(zip(("source", "stage", "docs_in", "docs_out"), r)) for r in FUNNEL]
    assert plots.funnel_plot(as_dicts) == png
    assert plots.funnel_plot(FUNNEL[:2]) != png
    height, width, _ = _pixels(png).shape
    assert width == 700 and height >= 300


def test_histogram_cutoff_lines_are_drawn():
    values = [100, 250, 400, 800, 1600, 3200]
    plain = _pixels(plots.histogram_plot(values, log_x=True))
    cut = _pixels(plots.histogram_plot(values, log_x=True, cutoffs={"min 300": 300}))
    red = lambda img: int(((img[..., 0] > 0.7) & (img[..., 1] < 0.3) & (img[..., 2] < 0.3)).sum())  # noqa: E731
    assert red(plain) == 0 and red(cut) > 50


def test_binned_histograms_draw_each_series_in_its_colour():
    edges = [0.0, 0.25, 0.5, 0.75, 1.0]
    red = lambda img: int(((img[..., 0] > 0.7) & (img[..., 1] < 0.3) & (img[..., 2] < 0.3)).sum())  # noqa: E731
    one = plots.binned_histograms_plot({"hq": [0, 1, 5, 2]}, edges)
    two = plots.binned_histograms_plot({"hq": [0, 1, 5, 2], "cc": [4, 3, 1, 0]}, edges)
    assert two.startswith(b"\x89PNG") and two == plots.binned_histograms_plot({"hq": [0, 1, 5, 2], "cc": [4, 3, 1, 0]}, edges)
    assert red(_pixels(one)) == 0 and red(_pixels(two)) > 50  # the second series is drawn in the cut-off red


def test_bar_plot_and_markdown_image_round_trip():
    png = plots.bar_plot({"too_short": 12, "not_html": 3}, title="drops")
    md = plots.as_markdown_image(png, "drops")
    assert md.startswith("![drops](data:image/png;base64,") and md.endswith(")")
    assert base64.b64decode(md[len("![drops](data:image/png;base64,"):-1]) == png
    with pytest.raises(ValueError):
        plots.as_markdown_image(b"GIF89a")


def test_loss_curve_and_stacked_bars_are_deterministic_pngs():
    curve = plots.loss_curve_plot([5.0, 4.0, 3.5], [(3, 3.6)], baseline=4.5)
    assert curve.startswith(b"\x89PNG") and curve == plots.loss_curve_plot([5.0, 4.0, 3.5], [(3, 3.6)], baseline=4.5)
    bars = plots.stacked_bar_plot(["en", "ru"], [3, 0], [3, 3])
    assert bars.startswith(b"\x89PNG") and bars != plots.stacked_bar_plot(["en", "ru"], [3, 3], [3, 3])


def test_histogram_table_and_per_key_histograms():
    assert plots.histogram_table([2, 0, 5], [0.0, 0.5, 0.8, 1.0]) == (
        "| score | docs |\n|---|---|\n| 0.0-0.5 | 2 |\n| 0.5-0.8 | 0 |\n| 0.8-1.0 | 5 |")
    md = plots.histograms_markdown({"en": [100.0, 300.0, 900.0], "de": [float("nan")]}, {"en": [250.0, 600.0]},
                                   "perplexity", log_x=True)
    assert md.startswith("![en](data:image/png;base64,") and "![de]" not in md
    assert plots.histograms_markdown({"de": [float("inf")]}, {}, "x") == "_no scored documents_"
