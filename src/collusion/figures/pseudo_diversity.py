"""Pseudo-diversity does not generalise: train DIV (dashed) vs test DIV (solid), and train vs test
ensemble loss L_ens, over training, one colour per β, mean over seeds (claims 2 and 3)."""

from .common import (
    beta_colour,
    block_grid,
    completed_only,
    div_axis,
    diverged_note,
    legend_below,
    log_axis,
    setting_label,
    settings,
)


def draw(tables):
    curves, n_diverged = completed_only(tables["curves"], tables["runs"])
    groups = settings(curves)
    fig, axes = block_grid(2, len(groups))
    for column, (key, frame) in enumerate(groups):
        unit = "MSE" if key[3] == "regression" else "nats"
        for row, quantity in enumerate(["DIV", "L_ens"]):
            ax = axes[row, column]
            for beta, part in frame.groupby("beta"):
                mean = part.groupby("epoch")[[f"train_{quantity}", f"test_{quantity}"]].mean()
                colour = beta_colour(beta)
                ax.plot(mean.index, mean[f"test_{quantity}"], color=colour, label=f"β = {beta:g}")
                ax.plot(mean.index, mean[f"train_{quantity}"], color=colour, ls="--", lw=0.9)
            if quantity == "DIV":
                div_axis(ax, key[3])
            else:
                log_axis(ax)  # the ensemble loss is positive
            ax.set(
                xlabel="epoch",
                ylabel=f"{quantity} ({unit})",
                title=setting_label(key) if row == 0 else None,
            )
    axes[0, 0].plot([], [], color="0.3", label="test (solid)")
    axes[0, 0].plot([], [], color="0.3", ls="--", label="train (dashed)")
    legend_below(fig, axes, columns=7)
    diverged_note(fig, n_diverged)
    return fig
