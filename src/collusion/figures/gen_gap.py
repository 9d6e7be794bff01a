"""Generalisation gap (test − train ensemble loss) over training, one line per β, mean ± 1 SD over
seeds (claim 3)."""

from .common import (
    band,
    beta_colour,
    completed_only,
    diverged_note,
    legend_below,
    panel_grid,
    setting_label,
    settings,
)


def draw(tables):
    gap, n_diverged = completed_only(tables["gen_gap"], tables["runs"])
    groups = settings(gap)
    fig, axes = panel_grid(len(groups))
    for ax, (key, frame) in zip(axes, groups):
        for beta, part in frame.groupby("beta"):
            summary = band(part, ["epoch"], "gen_gap", "sd").sort_values("epoch")
            colour = beta_colour(beta)
            ax.plot(summary["epoch"], summary["mean"], color=colour, label=f"{beta:g}")
            ax.fill_between(
                summary["epoch"], summary["low"], summary["high"], color=colour, alpha=0.15, lw=0
            )
        unit = "MSE" if key[3] == "regression" else "nats"
        ax.set(title=setting_label(key), xlabel="epoch", ylabel=f"test − train L_ens ({unit})")
    legend_below(fig, axes, title="β")
    diverged_note(fig, n_diverged)
    return fig
