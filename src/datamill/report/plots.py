"""Plots as self-contained SVG (matplotlib, Agg backend), embedded in the HTML as data URIs:
no script, style or font from another host."""

from __future__ import annotations

import base64
import io
from typing import Any, Sequence

import numpy as np

COLORS = ["#3566a8", "#d1773a", "#4c9a5b", "#b54848", "#7d5ba6", "#8c6d4f", "#cc6fae", "#6f6f6f",
          "#b5b23a", "#3aa6b5"]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "path", "font.size": 9, "axes.spines.top": False,
                         "axes.spines.right": False, "figure.dpi": 100})
    return plt


def to_data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    _plt().close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def histogram(values: np.ndarray, title: str, *, other: np.ndarray | None = None, labels=("this", "other"),
              log: bool | None = None, bins: int = 40) -> str:
    plt = _plt()
    values = values[np.isfinite(values)]
    fig, ax = plt.subplots(figsize=(4.6, 2.6))
    data = [values] + ([other[np.isfinite(other)]] if other is not None else [])
    allv = np.concatenate(data) if data else values
    if log is None:
        log = allv.size > 0 and allv.min() >= 0 and np.percentile(allv, 99) > 50 * max(np.median(allv), 1)
    if allv.size == 0:
        ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
    else:
        lo, hi = float(allv.min()), float(allv.max())
        if log and lo >= 0:
            edges = np.logspace(np.log10(max(lo, 1)), np.log10(max(hi, 2)), bins + 1)
            ax.set_xscale("log")
        else:
            edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
        for i, d in enumerate(data):
            weights = np.ones_like(d) / max(len(d), 1) if other is not None else None
            ax.hist(d, bins=edges, weights=weights, alpha=0.65 if other is not None else 0.9, color=COLORS[i],
                    label=labels[i] if other is not None else None)
        if other is not None:
            ax.legend(frameon=False)
        ax.set_ylabel("share" if other is not None else "records")
    ax.set_title(title, fontsize=9)
    return to_data_uri(fig)


def bars(counts: Sequence[tuple[str, float]], title: str, *, horizontal: bool = True, xlabel: str = "records",
         other: Sequence[float] | None = None, labels=("this", "other")) -> str:
    plt = _plt()
    names = [str(n) for n, _ in counts]
    vals = [v for _, v in counts]
    fig, ax = plt.subplots(figsize=(4.6, max(1.6, 0.22 * len(names) + 0.8)))
    y = np.arange(len(names))
    if other is not None:
        ax.barh(y - 0.2, vals, height=0.4, color=COLORS[0], label=labels[0])
        ax.barh(y + 0.2, other, height=0.4, color=COLORS[1], label=labels[1])
        ax.legend(frameon=False)
    else:
        ax.barh(y, vals, color=COLORS[0])
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=9)
    return to_data_uri(fig)


def funnel(steps: list[dict[str, Any]], read: int) -> str:
    plt = _plt()
    names = ["read"] + [s["step"] for s in steps]
    counts = [read] + [s["out"] for s in steps]
    fig, ax = plt.subplots(figsize=(6.4, max(1.8, 0.3 * len(names) + 0.8)))
    y = np.arange(len(names))
    ax.barh(y, counts, color=COLORS[0])
    for yi, c in zip(y, counts):
        ax.text(c, yi, f" {c:,}", va="center", fontsize=8)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("records left after the step")
    ax.set_title("Pipeline funnel", fontsize=9)
    return to_data_uri(fig)


def scatter_clusters(xy: np.ndarray, labels: np.ndarray, title: str) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.0, 4.0))
    for k in np.unique(labels):
        m = labels == k
        ax.scatter(xy[m, 0], xy[m, 1], s=6, alpha=0.7, color=COLORS[int(k) % len(COLORS)], label=f"cluster {k}")
    ax.legend(frameon=False, fontsize=7, markerscale=2, loc="best")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    return to_data_uri(fig)


def lineage_image(graph: dict[str, Any], max_files: int = 12) -> str:
    """The lineage graph drawn in layers: the version at the top, its sources below."""
    plt = _plt()
    nodes, edges = graph["nodes"], graph["edges"]
    parents: dict[str, list[str]] = {}
    for c, p in edges:
        parents.setdefault(c, []).append(p)
    depth: dict[str, int] = {graph["root"]: 0}
    order = [graph["root"]]
    for key in order:
        kids = parents.get(key, [])
        files = [k for k in kids if nodes[k]["kind"] == "file"][:max_files]
        for k in [k for k in kids if nodes[k]["kind"] != "file"] + files:
            if k not in depth:
                depth[k] = depth[key] + 1
                order.append(k)
    layers: dict[int, list[str]] = {}
    for k in order:
        layers.setdefault(depth[k], []).append(k)
    width = max(len(v) for v in layers.values())
    fig, ax = plt.subplots(figsize=(min(12, 2.2 + 2.2 * width), 1.2 + 1.1 * len(layers)))
    pos = {}
    for d, keys in layers.items():
        for i, k in enumerate(keys):
            pos[k] = ((i + 0.5) / len(keys), -d)
    for c, p in edges:
        if c in pos and p in pos:
            ax.annotate("", xy=pos[c], xytext=pos[p], arrowprops={"arrowstyle": "->", "color": "#888"})
    for k, (x, y) in pos.items():
        n = nodes[k]
        label = k if n["kind"] != "file" else "…" + k[-28:] if len(k) > 30 else k
        color = {"version": "#dbe8f7", "file": "#f3ead9"}.get(n["kind"], "#f4d4d4")
        ax.text(x, y, label, ha="center", va="center", fontsize=7,
                bbox={"boxstyle": "round", "facecolor": color, "edgecolor": "#999"})
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(-len(layers) + 0.4, 0.6)
    ax.axis("off")
    ax.set_title("Lineage: this version (top) and what it was made from", fontsize=9)
    return to_data_uri(fig)
