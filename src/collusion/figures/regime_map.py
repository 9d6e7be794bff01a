"""Regime map: where each claim holds. One cell per (setting, claim's primary endpoint) and one
panel per checkpoint selection; the colour is the standardised paired effect d_z = mean / SD of
the per-seed differences (signed so that the claim's direction is positive), the mark the verdict
of the claims table (results/paper/claims.csv, never the runs), followed by † where the verdict is
fragile (it changes when one seed is left out)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm

from .common import SELECTION_LABEL, SELECTIONS, empty_figure, plt

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


def _is_true(values: pd.Series) -> pd.Series:
    return values.astype(str).str.strip().str.lower().isin(["true", "1", "1.0", "yes"])


def setting_name(row) -> str:
    parts = [row.dataset, row.model, row.aggregation]
    label = " · ".join(str(p) for p in parts if isinstance(p, str) and p)
    if pd.notna(row.members) and str(row.members) != "":
        label += f" · M={int(float(row.members))}"
    return (
        label
        if row.experiment == row.dataset or not isinstance(row.experiment, str)
        else f"{row.experiment}: {label}"
    )


def cells(claims: pd.DataFrame) -> pd.DataFrame:
    """The map's cells: one per claims-table row whose endpoint is its claim's primary endpoint
    (either selection), with its row (setting), column (claim · endpoint), panel (selection),
    colour value (d_z) and mark (verdict)."""
    primary = claims[_is_true(claims["primary"])][["claim", "endpoint"]].drop_duplicates()
    rows = claims.merge(primary, on=["claim", "endpoint"])
    verdicts = rows["verdict"].fillna("n/a")  # pandas reads the verdict "n/a" back as NaN
    fragile = _is_true(rows["fragile"]) if "fragile" in rows else pd.Series(False, rows.index)
    return pd.DataFrame(
        {
            "setting": [setting_name(row) for row in rows.itertuples()],
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


def draw(tables):
    claims = tables["claims"]
    missing = missing_columns(claims)
    if missing:
        return empty_figure(
            "claims.csv does not follow the claims-table contract\n(missing: "
            + ", ".join(missing)
            + "): regenerate it with the current `claims` rule"
        )
    table = cells(claims)
    if table.empty:
        return empty_figure("claims.csv declares no primary endpoint: nothing to map")
    columns = sorted(table["column"].unique(), key=lambda c: (int(c.split(" · ")[0]), c))
    settings = sorted(table["setting"].unique())
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
    return fig
