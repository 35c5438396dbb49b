"""The report's plots, drawn with matplotlib (no pyplot: no global state, no display) as PNG
files beside index.html. Every axis says its units, every caption the protocol and options."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from stacgen.benchmark.page import Figure
from stacgen.benchmark.protocols import LABELS
from stacgen.benchmark.run import BenchmarkResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

# Okabe-Ito, readable by colour-blind readers; markers tell processors apart in grey too.
COLOURS: Final = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")
MARKERS: Final = ("o", "s", "^", "D", "v", "P", "X")
DPI: Final = 100
ISO_F1: Final = (0.6, 0.7, 0.8, 0.9)


def _style(i: int) -> tuple[str, str]:
    return COLOURS[i % len(COLOURS)], MARKERS[i % len(MARKERS)]


def _options(result: BenchmarkResult) -> str:
    o = result.options
    dilation = (
        "no dilation"
        if not (o.dilate_cloud or o.dilate_shadow)
        else f"dilation cloud {o.dilate_cloud}, shadow {o.dilate_shadow} px"
    )
    return (
        f"protocol {result.protocol.name}; {o.resampling} resampling to the 60 m grid; "
        f"class 1 {o.class_1}; {dilation}; {len(result.scenes)} scenes"
    )


def draw(result: BenchmarkResult, folder: Path) -> list[Figure]:
    """The figures of the report, written into `folder`."""
    from matplotlib.figure import Figure as MplFigure

    headline = result.protocol.headline
    metric = f"{headline.comparison} {LABELS[headline.metric]}"
    options = _options(result)
    out: list[Figure] = []

    # 1. per-scene accuracy against the reference's cloud and snow cover
    fig = MplFigure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, key, label in (
        (axes[0], "cloud_cover", "reference cloud cover (eo:cloud_cover, % of valid pixels)"),
        (axes[1], "snow_cover", "reference snow cover (eo:snow_cover, % of valid pixels)"),
    ):
        for i, r in enumerate(result.processors):
            colour, marker = _style(i)
            xs, ys = [], []
            for s, sc in zip(result.scenes, r.scenes, strict=True):
                x, y = (
                    getattr(s, key),
                    sc.comparisons[headline.comparison].values.get(headline.metric),
                )
                if x is not None and y is not None:
                    xs.append(x)
                    ys.append(y)
            ax.scatter(xs, ys, c=colour, marker=marker, label=r.processor.name, alpha=0.8)
        ax.set_xlabel(label)
        ax.set_xlim(-2, 102)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"{metric} per scene (0-1)")
    axes[0].legend(title="processor")
    fig.suptitle(f"{metric} per scene against the reference's cloud and snow cover")
    out.append(
        _save(
            fig,
            folder,
            "accuracy_vs_cover.png",
            f"Each point is one scene and one processor: {metric} (0-1, y) against "
            f"the reference's cloud cover and snow cover (% of valid pixels, x). "
            f"{options}.",
            f"{metric} against cloud and snow cover",
            options,
        )
    )

    # 2. processors x scenes heat map
    values = [
        [sc.comparisons[headline.comparison].values.get(headline.metric) for sc in r.scenes]
        for r in result.processors
    ]
    known = [v for row in values for v in row if v is not None]
    low = math.floor(min(known, default=0.0) * 10) / 10
    grid = [[math.nan if v is None else v for v in row] for row in values]
    width = min(24.0, 3 + 0.32 * len(result.scenes))
    fig = MplFigure(figsize=(width, 1.6 + 0.45 * len(values) + 1.6), layout="constrained")
    ax = fig.subplots()
    from matplotlib import colormaps

    cmap = colormaps["viridis"].with_extremes(bad="#bbbbbb")
    image = ax.imshow(grid, aspect="auto", cmap=cmap, vmin=low, vmax=1.0, interpolation="nearest")
    ax.set_yticks(range(len(values)), [r.processor.name for r in result.processors])
    ax.set_xticks(
        range(len(result.scenes)),
        [f"{s.site} {s.datetime[:10]}" for s in result.scenes],
        rotation=90,
        fontsize=8,
    )
    ax.set_xlabel("scene (site, acquisition date)")
    fig.colorbar(image, ax=ax, label=f"{metric} (0-1; grey: undefined)", shrink=0.9)
    ax.set_title(f"{metric}, processors by scenes")
    out.append(
        _save(
            fig,
            folder,
            "heatmap.png",
            f"{metric} (0-1) of each processor (rows) on each scene (columns); colour "
            f"scale from {low:.1f} to 1; grey where the metric is undefined. {options}.",
            f"heat map of {metric}, processors by scenes",
            options,
        )
    )

    # 3. precision-recall per processor
    comparison, p_key, r_key = result.protocol.precision_recall
    fig = MplFigure(figsize=(6.4, 5.6), layout="constrained")
    ax = fig.subplots()
    for i, r in enumerate(result.processors):
        colour, marker = _style(i)
        xs, ys = [], []
        for sc in r.scenes:
            x, y = (sc.comparisons[comparison].values.get(k) for k in (r_key, p_key))
            if x is not None and y is not None:
                xs.append(x)
                ys.append(y)
        ax.scatter(xs, ys, c=colour, marker=marker, alpha=0.45, s=22)
        pooled = r.pooled[comparison].values
        px, py = pooled.get(r_key), pooled.get(p_key)
        if px is not None and py is not None:
            ax.scatter(
                [px],
                [py],
                c=colour,
                marker=marker,
                s=150,
                edgecolors="black",
                label=f"{r.processor.name} (pooled)",
            )
    _iso_f1(ax)
    ax.set_xlabel(f"{comparison} {LABELS[r_key]} (0-1)")
    ax.set_ylabel(f"{comparison} {LABELS[p_key]} (0-1)")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", title="large: pooled; small: scenes")
    ax.set_title(f"{comparison}: precision against recall")
    out.append(
        _save(
            fig,
            folder,
            "precision_recall.png",
            f"Precision ({LABELS[p_key]}) against recall ({LABELS[r_key]}) of the "
            f"{comparison} comparison: small markers one scene each, large markers the "
            f"pooled figure (summed matrix); dotted: curves of equal F1. {options}.",
            "precision against recall per processor",
            options,
        )
    )
    return out


def _iso_f1(ax: Any) -> None:
    """Dotted curves of equal F1 (precision p, recall r: F1 = 2pr / (p + r)), for reading."""
    for f1 in ISO_F1:
        r = [f1 / (2 - f1) + (1 - f1 / (2 - f1)) * k / 50 for k in range(1, 51)]
        p = [f1 * x / (2 * x - f1) for x in r]
        ax.plot(r, p, linestyle=":", color="#999999", linewidth=0.8, zorder=0)
        ax.annotate(
            f"F1 {f1:.1f}", (r[-1], p[-1]), fontsize=7, color="#777777", ha="right", va="bottom"
        )


def _save(fig: MplFigure, folder: Path, name: str, caption: str, alt: str, options: str) -> Figure:
    # The options inside the picture too, so that a copied PNG still says how it was made.
    fig.supxlabel(options, fontsize=7.5, color="#444444")
    fig.savefig(folder / name, dpi=DPI)
    return Figure(name, caption, alt)
