"""β > 1: the objective is unbounded below; DIV grows until the run is stopped as diverged."""

from .common import empty_figure, panel_grid


def draw(tables):
    divergence = tables["divergence"]
    if divergence.empty:
        return empty_figure("no run with β > 1 in this configuration")
    groups = list(divergence.groupby(["experiment", "model", "aggregation", "members", "beta"]))
    fig, axes = panel_grid(len(groups), columns=2)
    for ax, (key, frame) in zip(axes, groups):
        for seed, run in frame.groupby("seed"):
            ax.plot(run["epoch"], run["train_DIV"], color="C0", alpha=0.7, label="train DIV" if seed == frame["seed"].min() else None)
            ax.plot(run["epoch"], run["train_L_ens"], color="C3", alpha=0.7, label="train L_ens" if seed == frame["seed"].min() else None)
        statuses = ", ".join(sorted(frame["status"].unique()))
        ax.set_yscale("log")
        ax.set(title=f"{key[0]} · {key[1]} · β={key[4]:g} ({statuses})", xlabel="epoch", ylabel="loss")
        ax.legend(fontsize=8)
    return fig
