"""Small PNG plots for asset metadata (the Dagster UI renders them from markdown).

Matplotlib on the Agg backend, no global state: each function draws one figure, returns PNG bytes and
closes it. ``as_markdown_image`` wraps the bytes in a base64 data URI, so
``dg.MetadataValue.md(as_markdown_image(funnel_plot(rows)))`` shows the plot on the asset's page.
PNG output is deterministic for the same input (no timestamps in the file).
"""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.figure import Figure  # noqa: E402


@dataclass(frozen=True)
class PlotStyle:
    width_in: float = 7.0
    height_in: float = 3.6
    dpi: int = 100
    color: str = "#4f6bed"
    cutoff_color: str = "#d62728"
    bins: int = 40


DEFAULT_STYLE = PlotStyle()


class Markdown(str):
    """Metadata text the Dagster UI renders as markdown (``assets.stages.stage_metadata`` wraps it), so a
    pure stage report can say how a value shows without importing Dagster."""


def _png(fig: Figure, dpi: int) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def funnel_plot(rows: Iterable[Mapping | Sequence], title: str = "Documents through the pipeline",
                style: PlotStyle = DEFAULT_STYLE) -> bytes:
    """Horizontal bars of docs in and out per (source, stage), in the rows' order.

    A row is a mapping with ``source, stage, docs_in, docs_out`` or a tuple starting with those four
    (the catalog's ``SELECT * FROM funnel`` rows).
    """
    items = []
    for row in rows:
        if isinstance(row, Mapping):
            items.append((row["source"], row["stage"], int(row["docs_in"]), int(row["docs_out"])))
        else:
            source, stage, docs_in, docs_out = row[:4]
            items.append((source, stage, int(docs_in), int(docs_out)))
    height = max(style.height_in, 0.28 * len(items) + 1.2)
    fig, ax = plt.subplots(figsize=(style.width_in, height))
    labels = [f"{s} / {st}" for s, st, _, _ in items]
    y = list(range(len(items)))[::-1]
    ax.barh(y, [i for _, _, i, _ in items], color="#c9d1f7", label="docs in")
    ax.barh(y, [o for _, _, _, o in items], color=style.color, height=0.5, label="docs out")
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("documents")
    ax.set_title(title)
    if items:
        ax.legend(loc="lower right", fontsize=8)
    return _png(fig, style.dpi)


def bar_plot(values: Mapping[str, float], title: str = "", xlabel: str = "", style: PlotStyle = DEFAULT_STYLE) -> bytes:
    """Horizontal bars, one per key, in the mapping's order (e.g. drop reasons, mixture shares)."""
    keys = list(values)
    fig, ax = plt.subplots(figsize=(style.width_in, max(style.height_in, 0.28 * len(keys) + 1.2)))
    y = list(range(len(keys)))[::-1]
    ax.barh(y, [values[k] for k in keys], color=style.color)
    ax.set_yticks(y, keys, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return _png(fig, style.dpi)


def histogram_plot(values: Sequence[float], title: str = "", xlabel: str = "", cutoffs: Mapping[str, float] | None = None,
                   log_x: bool = False, style: PlotStyle = DEFAULT_STYLE) -> bytes:
    """A histogram with optional labelled vertical cut-off lines (e.g. a perplexity threshold)."""
    counts, edges = _bins(values, log_x, style)
    return binned_histogram_plot(counts, edges, title, xlabel, cutoffs, log_x, style)


def _bins(values: Sequence[float], log_x: bool, style: PlotStyle) -> tuple[np.ndarray, np.ndarray]:
    """``style.bins`` bins over the values' range (log-spaced over the positive ones with ``log_x``)."""
    data = [float(v) for v in values]
    if not log_x:
        return np.histogram(data, bins=style.bins)
    positive = [v for v in data if v > 0]
    lo, hi = (min(positive), max(positive)) if positive else (1.0, 10.0)
    bins = [lo * (hi / lo) ** (i / style.bins) for i in range(style.bins + 1)] if hi > lo else style.bins
    return np.histogram(positive, bins=bins)


def binned_histogram_plot(counts: Sequence[int], edges: Sequence[float], title: str = "", xlabel: str = "",
                          cutoffs: Mapping[str, float] | None = None, log_x: bool = False,
                          style: PlotStyle = DEFAULT_STYLE) -> bytes:
    """A histogram already counted in bins (``edges``: one more than ``counts``), e.g. summed over parts."""
    fig, ax = plt.subplots(figsize=(style.width_in, style.height_in))
    edges = np.asarray(edges, float)
    ax.hist(edges[:-1], bins=edges, weights=np.asarray(counts, float), color=style.color)
    if log_x:
        ax.set_xscale("log")
    for label, x in (cutoffs or {}).items():
        ax.axvline(x, color=style.cutoff_color, linestyle="--", linewidth=1.2)
        ax.annotate(label, (x, 1), xycoords=("data", "axes fraction"), xytext=(3, -12), textcoords="offset points",
                    color=style.cutoff_color, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.set_title(title)
    return _png(fig, style.dpi)


def binned_histograms_plot(counts: Mapping[str, Sequence[int]], edges: Sequence[float], title: str = "",
                           xlabel: str = "", style: PlotStyle = DEFAULT_STYLE) -> bytes:
    """Histograms already binned (one series per key, the same ``edges``), overlaid as outlines, e.g. a
    classifier's held-out scores per class."""
    fig, ax = plt.subplots(figsize=(style.width_in, style.height_in))
    for (label, values), color in zip(counts.items(), (style.color, style.cutoff_color, "#2ca02c", "#7f7f7f")):
        ax.stairs(values, edges, label=f"{label} ({sum(values)})", color=color, linewidth=1.5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _png(fig, style.dpi)


def as_markdown_image(png: bytes, alt: str = "plot") -> str:
    """A markdown image with the PNG inlined as a base64 data URI (what ``MetadataValue.md`` renders)."""
    if not png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError("as_markdown_image expects PNG bytes")
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def loss_curve_plot(losses: Sequence[float], val_history: Sequence[tuple[int, float]], baseline: float,
                    baseline_label: str = "unigram entropy", style: PlotStyle = DEFAULT_STYLE) -> bytes:
    """Training loss per step, validation losses as points, and a horizontal baseline."""
    fig, ax = plt.subplots(figsize=(style.width_in, style.height_in))
    ax.plot(range(1, len(losses) + 1), losses, lw=0.8, color=style.color, label="train loss")
    if val_history:
        steps, values = zip(*val_history)
        ax.scatter(steps, values, color=style.cutoff_color, zorder=3, label="validation loss")
    ax.axhline(baseline, color="gray", ls="--", lw=0.8, label=baseline_label)
    ax.set_xlabel("step")
    ax.set_ylabel("nats / token")
    ax.legend(fontsize=8)
    return _png(fig, style.dpi)


def stacked_bar_plot(labels: Sequence[str], kept: Sequence[int], total: Sequence[int], title: str = "",
                     ylabel: str = "documents", style: PlotStyle = DEFAULT_STYLE) -> bytes:
    """Vertical bars per label: the kept count, with the dropped rest stacked on it."""
    fig, ax = plt.subplots(figsize=(max(4.0, 0.35 * len(labels) + 1.5), style.height_in))
    x = list(range(len(labels)))
    ax.bar(x, kept, color=style.color, label="kept")
    ax.bar(x, [t - k for t, k in zip(total, kept)], bottom=kept, color="#c8c8c8", label="dropped")
    ax.set_xticks(x, labels, rotation=90 if len(labels) > 12 else 0)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _png(fig, style.dpi)


def histogram_table(counts: Sequence[int], edges: Sequence[float], label: str = "score") -> str:
    """A histogram as a markdown table, one row per bin (for values users read off exactly)."""
    rows = [f"| {lo:.1f}-{hi:.1f} | {int(n)} |" for lo, hi, n in zip(edges[:-1], edges[1:], counts)]
    return "\n".join([f"| {label} | docs |", "|---|---|", *rows])


def histograms_markdown(values: Mapping[str, Sequence[float]], cutoffs: Mapping[str, Sequence[float]], xlabel: str,
                        log_x: bool = False, style: PlotStyle = DEFAULT_STYLE) -> str:
    """One histogram per key (e.g. per language), its cut-offs as lines, as inline markdown images."""
    binned = {}
    for key, vals in values.items():
        finite = [float(v) for v in vals if v == v and abs(v) != float("inf")]
        if finite:
            binned[key] = (*_bins(finite, log_x and min(finite) > 0, style), log_x and min(finite) > 0)
    return _histogram_images(binned, cutoffs, xlabel, style)


def binned_histograms_markdown(counts: Mapping[str, Sequence[int]], edges: Sequence[float],
                               cutoffs: Mapping[str, Sequence[float]], xlabel: str, style: PlotStyle = DEFAULT_STYLE) -> str:
    """``histograms_markdown`` for histograms counted in fixed bins (a stage's ``PartStats.histograms``)."""
    return _histogram_images({key: (bins, edges, False) for key, bins in counts.items() if sum(bins)},
                             cutoffs, xlabel, style)


def _histogram_images(binned: Mapping[str, tuple[Sequence[int], Sequence[float], bool]],
                      cutoffs: Mapping[str, Sequence[float]], xlabel: str, style: PlotStyle) -> str:
    images = []
    for key, (counts, edges, log_x) in sorted(binned.items()):
        cuts = list(cutoffs.get(key, ()))
        title = f"{key}: {int(sum(counts))} docs" + (f", cut-offs {', '.join(f'{c:.3g}' for c in cuts)}" if cuts else "")
        png = binned_histogram_plot(counts, edges, title=title, xlabel=xlabel, cutoffs={f"{c:.3g}": c for c in cuts},
                                    log_x=log_x, style=style)
        images.append(as_markdown_image(png, key))
    return "\n\n".join(images) or "_no scored documents_"
