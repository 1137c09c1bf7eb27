"""The cohort report's plots: matplotlib figures drawn off screen, returned as PNG bytes.

Values hidden by the small-cell rule (course.evaluation.statistics) get no bar, and their
marker ("<5", "x") is written where the bar would be.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from course.evaluation import statistics as st


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    _plt().close(fig)
    return buffer.getvalue()


def _plain(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:.2f}"


def _number(value) -> float | None:
    return None if st.is_hidden(value) or st.is_missing(value) else float(value)


def bar_plot(title: str, labels: list[str], values: list, xlabel: str, percent: bool = False,
             errors: list[tuple] | None = None, limit: tuple | None = None) -> bytes:
    """Horizontal bars; a hidden value gets no bar and its marker as text."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(labels) + 1.4))
    y = np.arange(len(labels))[::-1]
    shown = [_number(v) for v in values]
    scale = 100 if percent else 1
    widths = [0 if v is None else v * scale for v in shown]
    ax.barh(y, widths, color="#3a6ea5")
    if errors:
        for yi, v, (low, high) in zip(y, shown, errors):
            if v is not None and not st.is_missing(low) and not st.is_missing(high):
                ax.plot([low * scale, high * scale], [yi, yi], color="black", linewidth=1.2)
    ends = [v or 0 for v in shown]  # where the label goes: after the bar and its interval
    if errors:
        ends = [max(e, high) if v is not None and not st.is_missing(high) else e
                for e, v, (_, high) in zip(ends, shown, errors)]
    for yi, v, raw, end in zip(y, shown, values, ends):
        text = raw if st.is_hidden(raw) else ("–" if v is None else
                                              (f"{v * 100:.0f}%" if percent else _plain(v)))
        ax.text(end * scale, yi, f" {text}", va="center", fontsize=8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    if limit:
        ax.set_xlim(*limit)
    else:
        top = max([w for w in widths] + [1])
        ax.set_xlim(0, top * 1.18)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def grouped_plot(title: str, labels: list[str], series: dict[str, list], ylabel: str,
                 limit: tuple | None = None, errors: dict[str, list[tuple]] | None = None) -> bytes:
    """Vertical bars, one group per label and one bar per series (before and after)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(6.5, 0.7 * len(labels) + 2), 4))
    x = np.arange(len(labels))
    width = 0.8 / max(1, len(series))
    colours = ["#9bb7d4", "#1f4e79", "#c97b2a", "#6b8e23"]
    for k, (name, values) in enumerate(series.items()):
        heights = [_number(v) for v in values]
        bars = ax.bar(x + (k - (len(series) - 1) / 2) * width, [h or 0 for h in heights], width,
                      label=name, color=colours[k % len(colours)])
        if errors and name in errors:
            for bar, h, (low, high) in zip(bars, heights, errors[name]):
                if h is not None and not st.is_missing(low) and not st.is_missing(high):
                    centre = bar.get_x() + bar.get_width() / 2
                    ax.plot([centre, centre], [low, high], color="black", linewidth=1)
        for bar, h, raw in zip(bars, heights, values):
            if h is None:
                ax.text(bar.get_x() + bar.get_width() / 2, 0, raw if st.is_hidden(raw) else "–",
                        ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, labels, rotation=30 if len(labels) > 4 else 0, ha="right" if len(labels) > 4 else "center",
                  fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if limit:
        ax.set_ylim(*limit)
    ax.legend(fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def items_plot(title: str, table: pd.DataFrame) -> bytes:
    """Facility against discrimination of each item, the items to rewrite marked and named."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    good, bad = table[~table["rewrite"]], table[table["rewrite"]]
    ax.scatter(good["facility"], good["discrimination"].fillna(0), color="#1f4e79", label="keep")
    ax.scatter(bad["facility"], bad["discrimination"].fillna(0), color="#c0392b", marker="x",
               s=60, label="rewrite")
    for row in bad.itertuples():
        ax.annotate(row.item, (row.facility, 0 if st.is_missing(row.discrimination) else row.discrimination),
                    fontsize=7, xytext=(4, 4), textcoords="offset points")
    ax.axhline(st.WEAK, color="grey", linestyle=":", linewidth=1)
    ax.axvline(st.EASY, color="grey", linestyle=":", linewidth=1)
    chance = table["chance"].dropna()
    if len(chance):
        ax.axvline(float(chance.max()) + st.ABOVE_CHANCE, color="grey", linestyle=":", linewidth=1)
    ax.set_xlim(0, 1.02)
    ax.set_xlabel("facility (share correct)")
    ax.set_ylabel("discrimination (corrected item-total r)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)
