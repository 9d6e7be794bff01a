"""Shared plotting helpers: one panel per setting, consistent labels, PDF + PNG output."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ..analysis import SETTING_KEYS  # noqa: E402

SELECTION_STYLE = {"best_val": "--", "last": "-"}


def setting_label(key) -> str:
    experiment, dataset, model, aggregation, members = key
    return f"{dataset} · {model} · {aggregation} · M={members}"


def settings(frame: pd.DataFrame):
    return list(frame.groupby(SETTING_KEYS, dropna=False))


def panel_grid(n: int, columns: int = 3, size=(4.2, 3.2)):
    columns = max(1, min(columns, n))
    rows = max(1, math.ceil(n / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(size[0] * columns, size[1] * rows), squeeze=False)
    flat = axes.ravel()
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def error_label(aggregation: str) -> str:
    return "test MSE (train-variance units)" if aggregation == "regression" else "test error (1 − accuracy)"


def empty_figure(message: str):
    fig, ax = plt.subplots(figsize=(5, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center")
    return fig


def save(fig, pdf: str, png: str) -> None:
    fig.tight_layout()
    fig.savefig(pdf)
    fig.savefig(png, dpi=130)
    plt.close(fig)


def plot_selections_with_band(ax, frame: pd.DataFrame, metric: str) -> None:
    """One line per checkpoint selection against β: the mean over seeds with a ±2 SEM band."""
    for selection, part in frame.groupby("selection"):
        part = part.sort_values("beta")
        mean, band = part[f"{metric}_mean"], 2 * part[f"{metric}_sem"].fillna(0)
        ax.plot(part["beta"], mean, SELECTION_STYLE.get(selection, "-"), marker="o", label=selection)
        ax.fill_between(part["beta"], mean - band, mean + band, alpha=0.2)


def beta_colours(betas) -> list:
    """One colour per β, from small (dark) to large (light)."""
    return list(plt.cm.viridis([i / max(1, len(betas) - 1) for i in range(len(betas))]))
