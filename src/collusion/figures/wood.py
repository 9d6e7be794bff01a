"""Wood et al.'s bias / variance / diversity decomposition of the test ensemble loss vs β, per
setting (rows: best validation and last epoch). Each panel: bias (bias plus noise), variance and
diversity, means over the trials with ± 2·SEM bands (variance, diversity), and the expected ensemble
loss = bias + variance − diversity. Where the dataset holds independently drawn training sets
(mnist1d_draws) the trials are Wood et al.'s (a new training set per seed); elsewhere they differ in
initialisation and batch order only, as the panel title says. Reads the `wood` table."""

from .common import SELECTION_LABEL, SELECTIONS, empty_figure, grid, legend_below, setting_label

KEYS = ["experiment", "dataset", "model", "aggregation", "members"]
TERMS = {  # column, its SEM column, label, colour
    "bias": ("bias", None, "bias (+ noise)", "tab:blue"),
    "variance": ("variance", "variance_sem", "variance", "tab:orange"),
    "diversity": ("diversity", "diversity_sem", "diversity", "tab:green"),
    "ensemble": ("expected_ensemble_loss", None, "ensemble loss = bias + var. − div.", "k"),
}


def draw(tables):
    table = tables["wood"]
    if table.empty:
        return empty_figure(
            "no setting whose seeds share one test set: Wood et al.'s bias and variance need "
            "several trials on the same test examples (a fixed split, e.g. MNIST-1D's)"
        )
    # the settings with independently drawn training sets first: they are Wood et al.'s trials
    groups = sorted(
        table.groupby(KEYS, dropna=False),
        key=lambda item: (item[1]["training_sets"].iloc[0] != "independent draws", item[0]),
    )
    selections = [s for s in SELECTIONS if s in set(table["selection"])]
    fig, axes = grid(len(selections), len(groups), sharex=True)
    for column, (key, frame) in enumerate(groups):
        for row, selection in enumerate(selections):
            ax = axes[row, column]
            part = frame[frame["selection"] == selection].sort_values("beta")
            for name, (value, spread, label, colour) in TERMS.items():
                ax.plot(
                    part["beta"],
                    part[value],
                    marker="o",
                    color=colour,
                    ls="--" if name == "ensemble" else "-",
                    label=label,
                )
                if spread:
                    ax.fill_between(
                        part["beta"],
                        part[value] - 2 * part[spread],
                        part[value] + 2 * part[spread],
                        color=colour,
                        alpha=0.18,
                        lw=0,
                    )
            trials = int(frame["trials"].max())
            sets = frame["training_sets"].iloc[0]
            title = f"{setting_label(key)}\n{trials} trials, {sets} training set(s)"
            ax.set(
                title=title if row == 0 else "",
                xlabel="β" if row == len(selections) - 1 else "",
                ylabel=f"{SELECTION_LABEL[selection]}\ntest loss",
            )
    legend_below(fig, axes, columns=4)
    return fig
