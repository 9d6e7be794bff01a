"""Test error vs ensemble size M, independent (β=0) vs joint (β=1) training (the size study)."""

from .common import empty_figure, error_label, panel_grid

KEYS = ["experiment", "dataset", "model", "aggregation", "selection"]


def draw(tables):
    sweep = tables["beta_sweep"]
    sweep = sweep[sweep["beta"].isin([0.0, 1.0])]
    groups = [(key, frame) for key, frame in sweep.groupby(KEYS) if frame["members"].nunique() > 1]
    if not groups:
        return empty_figure("no setting with several ensemble sizes in this configuration")
    fig, axes = panel_grid(len(groups))
    for ax, (key, frame) in zip(axes, groups):
        for beta, part in frame.groupby("beta"):
            part = part.sort_values("members")
            ax.errorbar(part["members"], part["test_error_mean"], yerr=2 * part["test_error_sem"].fillna(0),
                        marker="o", capsize=2, label=f"β={beta:g}")
        ax.set(title=f"{key[1]} · {key[2]} · {key[3]} ({key[4]})", xlabel="ensemble size M",
               ylabel=error_label(key[3]))
        ax.legend(fontsize=8)
    return fig
