"""Regime map: where each claim holds. One cell per (setting, claim's primary endpoint) and one
panel per checkpoint selection; the colour is the standardised paired effect d_z = mean / SD of
the per-seed differences (signed so that the claim's direction is positive), the mark the verdict
of the claims table (results/paper/claims.csv, never the runs), followed by † where the verdict is
fragile (it changes when one seed is left out).

The capacity axis: where the configuration has capacity studies (experiments that vary the member
width; collusion.figures.capacity_studies, passed as ``studies``), a study's rows are its
(aggregation, M) groups, each running from the narrowest to the widest member and labelled with
the width, a line between the groups; every other setting keeps its row and order."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm

from .common import SELECTION_LABEL, SELECTIONS, empty_figure, fit_panels, is_true, plt

REQUIRED = [
    "claim",
    "experiment",
    "dataset",
    "model",
    "aggregation",
    "members",
    "selection",
    "endpoint",
    "primary",
    "verdict",
    "per_seed",
]
MARKS = {
    "supported": "✓",
    "contradicted": "✗",
    "not significant": "○",
    "n/a": "n/a",
    "insufficient data": "?",
}
FRAGILE = "†"  # after the mark: the verdict changes when some one seed is left out
D_LIMIT = 3.0  # the colour scale saturates at |d_z| = 3
ROW = 0.2  # inches: a row's least height, its 7-pt mark with room


def missing_columns(claims: pd.DataFrame) -> list[str]:
    return [column for column in REQUIRED if column not in claims]


def per_seed_values(text) -> np.ndarray:
    """'0:0.12;1:0.08' or '0.12;0.08' -> array([0.12, 0.08]); empty -> empty array."""
    if not isinstance(text, str) or not text.strip():
        return np.array([])
    return np.array([float(part.split(":")[-1]) for part in text.split(";") if part.strip()])


def standardised_effect(text) -> float:
    values = per_seed_values(text)
    if len(values) < 2:
        return float("nan")
    sd = values.std(ddof=1)
    if sd == 0:
        return float(np.sign(values.mean()) * np.inf) if values.mean() else 0.0
    return float(values.mean() / sd)


def setting_name(row, width: int | None = None) -> str:
    """The row's label; with the member ``width`` (a capacity study's row), the model is named by
    its width, last, after the (aggregation, M) group it belongs to."""
    parts = [row.dataset, None if width else row.model, row.aggregation]
    label = " · ".join(str(p) for p in parts if isinstance(p, str) and p)
    if pd.notna(row.members) and str(row.members) != "":
        label += f" · M={int(float(row.members))}"
    if width:
        label += f" · width {width}"
    return (
        label
        if row.experiment == row.dataset or not isinstance(row.experiment, str)
        else f"{row.experiment}: {label}"
    )


def study_width(row, studies: dict[str, dict[str, int]]) -> int | None:
    """The member width of a capacity study's row, None for any other row."""
    return studies.get(row.experiment, {}).get(row.model)


def cells(claims: pd.DataFrame, studies: dict[str, dict[str, int]] | None = None) -> pd.DataFrame:
    """The map's cells: one per claims-table row whose endpoint is its claim's primary endpoint
    (either selection), with its row (setting), column (claim · endpoint), panel (selection),
    colour value (d_z) and mark (verdict); ``group`` and ``order`` place the row: a capacity
    study's rows (``studies``: experiment -> {model: width}) by width within their group."""
    studies = studies or {}
    primary = claims[is_true(claims["primary"])][["claim", "endpoint"]].drop_duplicates()
    rows = claims.merge(primary, on=["claim", "endpoint"])
    verdicts = rows["verdict"].fillna("n/a")  # pandas reads the verdict "n/a" back as NaN
    fragile = is_true(rows["fragile"]) if "fragile" in rows else pd.Series(False, rows.index)
    widths = [study_width(row, studies) for row in rows.itertuples()]
    settings = [setting_name(row, w) for row, w in zip(rows.itertuples(), widths)]
    return pd.DataFrame(
        {
            "setting": settings,
            "group": [s.rsplit(" · width ", 1)[0] if w else s for s, w in zip(settings, widths)],
            "order": [w or 0 for w in widths],
            "column": [f"{int(c)} · {e}" for c, e in zip(rows["claim"], rows["endpoint"])],
            "claim": rows["claim"].astype(int).to_numpy(),
            "endpoint": rows["endpoint"].to_numpy(),
            "selection": rows["selection"].to_numpy(),
            "d_z": [
                float("nan") if verdict == "n/a" else standardised_effect(text)
                for verdict, text in zip(verdicts, rows["per_seed"])
            ],
            "verdict": verdicts.to_numpy(),
            "fragile": fragile.to_numpy(),
            "mark": [MARKS.get(v, "?") + FRAGILE * f for v, f in zip(verdicts, fragile)],
        }
    )


def natural_key(column: pd.Series) -> pd.Series:
    """A sort key that orders the numbers inside labels by value (``M=2`` before ``M=10``)."""
    if pd.api.types.is_string_dtype(column):
        return column.str.replace(r"\d+", lambda m: m.group(0).zfill(9), regex=True)
    return column


def row_order(table: pd.DataFrame) -> list[str]:
    """The settings top to bottom: by label, numbers by value (M=2 before M=10), a capacity
    study's group by width."""
    placed = table.drop_duplicates("setting").sort_values(
        ["group", "order", "setting"], key=natural_key
    )
    return placed["setting"].tolist()


def draw(tables, studies: dict[str, dict[str, int]] | None = None):
    claims = tables["claims"]
    missing = missing_columns(claims)
    if missing:
        return empty_figure(
            "claims.csv does not follow the claims-table contract\n(missing: "
            + ", ".join(missing)
            + "): regenerate it with the current `claims` rule"
        )
    table = cells(claims, studies)
    if table.empty:
        return empty_figure("claims.csv declares no primary endpoint: nothing to map")
    columns = sorted(table["column"].unique(), key=lambda c: (int(c.split(" · ")[0]), c))
    settings = row_order(table)
    group_of = dict(zip(table["setting"], table["group"]))
    # a line between consecutive groups of which one is a capacity study's (width) axis
    swept = set(table.loc[table["order"] > 0, "group"])
    breaks = [
        i
        for i in range(1, len(settings))
        if group_of[settings[i]] != group_of[settings[i - 1]]
        and swept & {group_of[settings[i]], group_of[settings[i - 1]]}
    ]
    present = set(table["selection"])
    selections = [s for s in SELECTIONS if s in present] + sorted(present - set(SELECTIONS))
    fig, axes = plt.subplots(
        1,
        len(selections),
        squeeze=False,
        layout="constrained",
        figsize=(1.2 + 0.55 * len(columns) * len(selections), 1.2 + 0.3 * len(settings)),
    )
    norm = TwoSlopeNorm(vmin=-D_LIMIT, vcenter=0.0, vmax=D_LIMIT)
    cmap = plt.cm.RdBu_r.with_extremes(bad="0.85")
    for ax, selection in zip(axes[0], selections):
        part = table[table["selection"] == selection]
        values = np.full((len(settings), len(columns)), np.nan)
        for cell in part.itertuples():
            i, j = settings.index(cell.setting), columns.index(cell.column)
            values[i, j] = np.clip(cell.d_z, -D_LIMIT, D_LIMIT)
            ax.text(
                j,
                i,
                cell.mark,
                ha="center",
                va="center",
                fontsize=7,
                color="white" if abs(values[i, j]) > 2 else "black",
            )
        image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, aspect="auto")
        ax.set_xticks(range(len(columns)), columns, rotation=60, ha="right")
        ax.set_yticks(range(len(settings)), settings if ax is axes[0, 0] else [])
        ax.set_title(SELECTION_LABEL.get(selection, selection))
        ax.set_xticks(np.arange(len(columns) + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(len(settings) + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="white", lw=1)
        ax.tick_params(which="minor", length=0)
        ax.tick_params(axis="y", length=0)
        for i in breaks:
            ax.axhline(i - 0.5, color="0.2", lw=1.2)
        for side in ax.spines.values():
            side.set_visible(False)
    bar = fig.colorbar(image, ax=axes[0].tolist(), shrink=0.9, pad=0.02)
    bar.set_label("effect d_z")
    fig.supxlabel(
        "verdict (claims table):   "
        + "    ".join(f"{m} {v}" for v, m in MARKS.items() if v != "n/a")
        + f"    {FRAGILE} fragile (changes when one seed is left out)    grey: no test (n/a)",
        fontsize=7,
    )
    fit_panels(fig, axes[0], ROW * len(settings))  # few rows left no room for the claim labels
    return fig
