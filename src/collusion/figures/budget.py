"""The budget study: how far the learners got, and every primary verdict, at each training budget.
Top row, one panel per setting: the test accuracy of the ensembles (solid) and of their learners
(dashed, the mean over the M learners) at β = 0 and β = 1, mean over seeds at the best-validation
epoch within each budget; an open marker where at least half of the seeds selected an epoch in the
last 10 % of the budget (still improving). Bottom: the verdict of every primary row of the claims
table (rows: claim · endpoint) for each setting and budget (columns), and first the claim-level test
over all settings (the claim's decision), as the claims tables mark them († fragile, u under-trained);
– where the runs cannot answer a claim at that budget (no saved outputs there: not evaluated).
Reads the `budget` table (collusion.budget)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from ..budget import NOT_EVALUATED
from .common import beta_colour, empty_figure, is_true, legend_below, plt
from .regime_map import FRAGILE, MARKS

SETTING = ["experiment", "dataset", "model", "aggregation", "members"]
COLOURS = {
    "supported": "#4daf4a",
    "contradicted": "#e41a1c",
    "not significant": "0.75",
    "insufficient data": "0.92",
    "n/a": "white",
    NOT_EVALUATED: "#c6dbef",
}
MARK = {**MARKS, NOT_EVALUATED: "–"}


def setting_title(key) -> str:
    experiment, _, model, aggregation, members = key
    return f"{experiment}: {model}\n{aggregation} · M={int(members)}"


def accuracy_panel(ax, frame) -> None:
    frame = frame.drop_duplicates("budget").sort_values("budget")
    if frame["acc_beta0"].isna().all():
        ax.text(0.5, 0.5, "regression: no accuracy", ha="center", va="center", fontsize=6)
        ax.set_axis_off()
        return
    for beta in (0, 1):
        late = frame[f"late_beta{beta}"] >= 0.5
        for column, style, who in (("acc", "-", "ensemble"), ("learner_acc", "--", "learners")):
            values = 100 * frame[f"{column}_beta{beta}"]
            ax.plot(
                frame["budget"],
                values,
                style,
                marker="o",
                color=beta_colour(beta),
                label=f"β = {beta}, {who}",
            )
            ax.scatter(
                frame["budget"][late],
                values[late],
                s=14,
                facecolors="white",
                edgecolors=beta_colour(beta),
                zorder=3,
                label="open: selected late (u)",
            )
    ax.set_xscale("log", base=2)
    ax.set_xticks(frame["budget"], [str(int(b)) for b in frame["budget"]])
    ax.minorticks_off()
    ax.set(xlabel="budget (epochs)", ylabel="test accuracy (%)")


ALL_SETTINGS = "all settings"  # the claim-level test's column group


UNDER_TRAINED = "u"  # after the mark: under-trained (selected late for at least half the seeds)


def flag(value) -> bool:
    return bool(is_true(pd.Series([value])).iloc[0])


def cells(table, settings) -> list[tuple]:
    """(row label, column group, budget, verdict, mark) per cell: the claim-level test of each
    claim and endpoint, then every setting's row; † marks a fragile verdict (it changes when some
    one seed is left out), u an under-trained row."""
    out = []
    level = table.drop_duplicates(["claim", "endpoint", "budget"])
    for row in level.itertuples():
        verdict = row.claim_level_verdict if isinstance(row.claim_level_verdict, str) else "n/a"
        mark = MARK.get(verdict, "?") + FRAGILE * flag(row.claim_level_fragile)
        out.append((f"{int(row.claim)} · {row.endpoint}", ALL_SETTINGS, row.budget, verdict, mark))
    for row in table.itertuples():
        verdict = row.verdict if isinstance(row.verdict, str) else "n/a"
        mark = MARK.get(verdict, "?") + FRAGILE * flag(row.fragile)
        mark += UNDER_TRAINED * flag(row.under_trained)
        key = tuple(getattr(row, k) for k in SETTING)
        out.append((f"{int(row.claim)} · {row.endpoint}", key, row.budget, verdict, mark))
    return out


def verdict_grid(ax, table, settings) -> None:
    rows = table[["claim", "endpoint"]].drop_duplicates().sort_values(["claim", "endpoint"])
    labels = [f"{int(c)} · {e}" for c, e in zip(rows["claim"], rows["endpoint"])]
    budgets = sorted(table["budget"].unique())
    groups = [ALL_SETTINGS, *settings]
    columns = [(group, budget) for group in groups for budget in budgets]
    colours = np.ones((len(labels), len(columns), 3))
    for label, group, budget, verdict, mark in cells(table, settings):
        i, j = labels.index(label), columns.index((group, budget))
        colours[i, j] = plt.matplotlib.colors.to_rgb(COLOURS.get(verdict, "white"))
        ax.text(j, i, mark, ha="center", va="center", fontsize=6)
    ax.imshow(colours, aspect="auto")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xticks(range(len(columns)), [str(int(b)) for _, b in columns], fontsize=5.5)
    for k, group in enumerate(groups):
        title = "claim level" if group == ALL_SETTINGS else setting_title(group)
        ax.text(
            k * len(budgets) + (len(budgets) - 1) / 2,
            -0.8,
            title,
            ha="center",
            va="bottom",
            fontsize=5.5,
        )
        if k:
            ax.axvline(k * len(budgets) - 0.5, color="black", lw=1 if k > 1 else 2)
    ax.set_xlabel("budget (epochs): the claim-level test over all settings, then each setting")
    ax.set_xticks(np.arange(len(columns) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(labels) + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", lw=0.8)
    ax.tick_params(which="both", length=0)
    for side in ax.spines.values():
        side.set_visible(False)


def draw(tables):
    table = tables["budget"]
    if table.empty:
        return empty_figure(
            "no budget study in this configuration (an experiment whose recipe stores "
            "selections at shorter budgets: selection_horizons; config/budget.yaml)"
        )
    settings = [key for key, _ in table.groupby(SETTING, dropna=False)]
    n = len(settings)
    rows = table[["claim", "endpoint"]].drop_duplicates()
    fig = plt.figure(layout="constrained", figsize=(max(5.5, 1.9 * n), 2.0 + 0.2 * len(rows) + 1.9))
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.9, 1.0 + 0.2 * len(rows)])
    axes = top.subplots(1, n, squeeze=False, sharey=True)[0]
    for ax, key in zip(axes, settings):
        frame = table[(table[SETTING] == list(key)).all(axis=1)]
        accuracy_panel(ax, frame)
        ax.set_title(setting_title(key))
    legend_below(top, axes, columns=5)
    grid_ax = bottom.subplots()
    verdict_grid(grid_ax, table, settings)
    bottom.legend(
        handles=[
            Patch(color=c, label=v if MARK[v] == v else f"{MARK[v]} {v}")
            for v, c in COLOURS.items()
        ]
        + [
            Patch(color="white", label=f"{FRAGILE} fragile"),
            Patch(color="white", label=f"{UNDER_TRAINED} under-trained"),
        ],
        loc="outside lower center",
        ncols=4,
        frameon=False,
        fontsize=6,
    )
    return fig
