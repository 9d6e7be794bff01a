"""β > 1: the objective is unbounded below; training DIV grows until the run is stopped as diverged."""

from .common import beta_colour, empty_figure, legend_below, log_axis, panel_grid


def draw(tables):
    divergence = tables["divergence"]
    if divergence.empty:
        return empty_figure("no run with β > 1 in this configuration")
    groups = list(divergence.groupby(["experiment", "model", "aggregation", "members", "beta"]))
    fig, axes = panel_grid(len(groups), columns=3)
    for ax, (key, frame) in zip(axes, groups):
        first = frame["seed"].min()
        for seed, run in frame.groupby("seed"):
            ax.plot(
                run["epoch"],
                run["train_DIV"],
                color=beta_colour(key[4]),
                alpha=0.8,
                label="train DIV" if seed == first else None,
            )
            ax.plot(
                run["epoch"],
                run["train_L_ens"],
                color="k",
                ls="--",
                alpha=0.8,
                label="train L_ens" if seed == first else None,
            )
            end = run.iloc[-1]
            if end["status"] == "diverged":
                ax.plot(end["epoch"], end["train_DIV"], "x", color="k", label="stopped: diverged")
        log_axis(ax)
        ax.set(
            title=f"{key[0]}: {key[1]}\n{key[2]} · M={key[3]} · β = {key[4]:g}",
            xlabel="epoch",
            ylabel="training loss (MSE units)"
            if key[2] == "regression"
            else "training loss (nats)",
        )
    legend_below(fig, axes)
    return fig
