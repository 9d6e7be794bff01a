"""Paper's training-dynamics figure: validation accuracy (loss for regression) at every evaluation
(once per epoch here), the ensemble solid and each learner dashed, β = 0 next to β = 1, first seed
(claim 6)."""

from .common import beta_colour, block_grid, legend_below, log_axis, setting_label, settings


def draw(tables):
    dynamics = tables["dynamics"]
    dynamics = dynamics[dynamics["split"] == "val"]
    groups = settings(dynamics)
    betas = sorted(dynamics["beta"].unique())
    fig, axes = block_grid(len(betas), len(groups))
    for column, (key, frame) in enumerate(groups):
        for row, beta in enumerate(betas):
            ax = axes[row, column]
            part = frame[frame["beta"] == beta]
            if part.empty:  # this setting has no run at this β
                ax.set_visible(False)
                continue
            metric = part["metric"].iloc[0]
            scale = 100 if metric == "accuracy" else 1
            for learner, curve in part.groupby("learner"):
                ensemble = learner == "ensemble"
                ax.plot(
                    curve["epoch"],
                    scale * curve["value"],
                    color="k" if ensemble else beta_colour(beta),
                    ls="-" if ensemble else "--",
                    lw=1.4 if ensemble else 0.8,
                    zorder=3 if ensemble else 2,
                    label="ensemble"
                    if ensemble
                    else (f"learners, β = {beta:g}" if learner == "member0" else None),
                )
            seed, last = part["seed"].iloc[0], part["epoch"].max()
            # a run that stopped before the others (diverged, or stopped early) is never drawn as finished
            stopped = f", stopped at epoch {last}" if last < frame["epoch"].max() else ""
            ax.set(
                title=f"{setting_label(key)}\nβ = {beta:g}, seed {seed}{stopped}",
                xlabel="epoch (one evaluation each)",
                ylabel="validation accuracy (%)"
                if metric == "accuracy"
                else "validation loss (MSE)",
            )
            if metric == "loss":
                log_axis(ax)
    legend_below(fig, axes)
    return fig
