"""The width × M map: where joint training starts to cost accuracy. Per capacity study (an
experiment that varies the member width), aggregation and selection, two heat maps over member
width (rows) × ensemble size M (columns): the paired test-error difference β = 1 − β = 0 (mean over
seeds, percentage points, with its 95 % CI; * where the Holm-adjusted exact p < 0.05 over the map's
cells; ‡ where the cell is under-trained by the claims' rule: at β = 0 or 1, at least half the
seeds select an epoch in the last 10 % of the budget), and the ratio of the test DIV at β = 1 to
that at β = 0 (log colour scale); where a DIV is not positive (summed logits: their DIV is not a
variance and can be negative) the ratio means nothing, and the map shows the difference of the
test DIV β = 1 − β = 0 instead (linear scale). Reads the `capacity` table."""

import matplotlib.colors as mcolors
import numpy as np

from ..claims_spec import LATE_SHARE
from .common import SELECTION_LABEL, SELECTIONS, block_grid, empty_figure, is_true, note

KEYS = ["experiment", "dataset", "aggregation"]
SIGNIFICANCE = 0.05
UNDER_TRAINED = "‡"  # after a cell's difference: the cell is under-trained (tables.capacity)


def _heatmap(ax, frame, values, norm, cmap, labels):
    widths = sorted(frame["width"].unique())
    sizes = sorted(frame["members"].unique())
    cells = np.full((len(widths), len(sizes)), np.nan)
    text = np.full(cells.shape, "", dtype=object)
    for row in frame.itertuples(index=False):
        i, j = widths.index(row.width), sizes.index(row.members)
        cells[i, j] = values(row)
        text[i, j] = labels(row)
    image = ax.imshow(cells, origin="lower", aspect="auto", cmap=cmap, norm=norm)
    for i in range(len(widths)):
        for j in range(len(sizes)):
            if text[i, j]:
                normed = image.norm(cells[i, j]) if np.isfinite(cells[i, j]) else np.ma.masked
                # a value the norm cannot place (NaN) leaves the cell uncoloured: dark text on
                # the white background
                red, green, blue, _ = (
                    (1, 1, 1, 1) if np.ma.is_masked(normed) else image.cmap(normed)
                )
                dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
                ax.text(
                    j,
                    i,
                    text[i, j],
                    ha="center",
                    va="center",
                    fontsize=5,
                    color="white" if dark else "black",
                )
    ax.set_xticks(range(len(sizes)), [str(m) for m in sizes])
    ax.set_yticks(range(len(widths)), [str(w) for w in widths])
    ax.set(xlabel="ensemble size M", ylabel="member width")
    ax.spines[:].set_visible(False)
    return image


def _error_label(row, scale):
    mark = "*" if row.p_holm < SIGNIFICANCE else ""
    if getattr(row, "under_trained", False):
        mark += UNDER_TRAINED
    if np.isnan(row.diff_mean):
        return "n/a"
    if not (np.isfinite(row.ci_low) and np.isfinite(row.ci_high)):  # too few seeds for a 95 % CI
        return f"{scale * row.diff_mean:+.1f}{mark}"
    return (
        f"{scale * row.diff_mean:+.1f}{mark}\n[{scale * row.ci_low:.1f}, {scale * row.ci_high:.1f}]"
    )


def draw(tables):
    table = tables["capacity"]
    if table.empty:
        return empty_figure(
            "no experiment varies the member width in this configuration "
            "(a capacity study needs two models of different widths and β = 0 and 1)"
        )
    if "under_trained" in table:  # booleans, or read back from a CSV
        table = table.assign(under_trained=is_true(table["under_trained"]))
    groups = list(table.groupby(KEYS))
    selections = [s for s in SELECTIONS if s in set(table["selection"])]
    fig, axes = block_grid(len(selections), len(groups), block_columns=2)
    fig.set_size_inches(fig.get_size_inches() * np.array([1.3, 1.1]))  # room for the CIs
    for column, (key, frame) in enumerate(groups):
        scale = 1 if key[2] == "regression" else 100
        unit = "MSE" if key[2] == "regression" else "pp"
        errors = scale * frame["diff_mean"].abs()
        limit = float(errors.max()) if errors.notna().any() and errors.max() > 0 else 1.0
        error_norm = mcolors.TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit)
        positive = bool((frame["DIV_beta0"] > 0).all() and (frame["DIV_beta1"] > 0).all())
        if positive:
            div_norm = mcolors.LogNorm(
                vmin=min(1.0, frame["DIV_ratio"].min()),
                vmax=max(frame["DIV_ratio"].max(), 1.0 + 1e-9),
            )
            div_value, div_label, div_title, div_cmap = (
                lambda r: r.DIV_ratio,
                lambda r: f"{r.DIV_ratio:.3g}×",
                "test DIV β=1 / β=0",
                "magma_r",
            )
        else:
            change = (frame["DIV_beta1"] - frame["DIV_beta0"]).abs()
            reach = float(change.max()) if change.notna().any() and change.max() > 0 else 1.0
            div_norm = mcolors.TwoSlopeNorm(vcenter=0.0, vmin=-reach, vmax=reach)
            div_value, div_label, div_title, div_cmap = (
                lambda r: r.DIV_beta1 - r.DIV_beta0,
                lambda r: f"{r.DIV_beta1 - r.DIV_beta0:+.3g}",
                "test DIV β=1 − β=0 (a DIV ≤ 0: no ratio)",
                "PuOr_r",
            )
        for row, selection in enumerate(selections):
            part = frame[frame["selection"] == selection]
            title = f"{key[0]}: {key[1]} · {key[2]}\n{SELECTION_LABEL[selection]}"
            ax = axes[row, 2 * column]
            image = _heatmap(
                ax,
                part,
                lambda r, scale=scale: scale * r.diff_mean,
                error_norm,
                "RdBu_r",
                lambda r, scale=scale: _error_label(r, scale),
            )
            ax.set_title(f"{title}\ntest error β=1 − β=0 ({unit})")
            fig.colorbar(image, ax=ax, shrink=0.8)
            ax = axes[row, 2 * column + 1]
            image = _heatmap(ax, part, div_value, div_norm, div_cmap, div_label)
            ax.set_title(f"{title}\n{div_title}")
            fig.colorbar(image, ax=ax, shrink=0.8)
    seeds = sorted(int(n) for n in table["n"].dropna().unique()) if "n" in table else []
    text = f"* Holm-adjusted p < {SIGNIFICANCE:g} (exact paired sign-flip test); [95 % CI]"
    if "under_trained" in table:
        share = f"{LATE_SHARE:.0%}"
        text += (
            f"; {UNDER_TRAINED} under-trained: at β = 0 or 1, ≥ half the seeds select an epoch in"
            f" the last {share} of the budget"
        )
    if seeds:
        text += "; paired seeds per cell: " + (
            f"{seeds[0]}" + (f"–{seeds[-1]}" if len(seeds) > 1 else "")
        )
    note(fig, text)
    return fig
