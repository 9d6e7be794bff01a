"""Wood et al.'s bias / variance / diversity decomposition of the test ensemble loss vs β, per
setting (rows; columns: best validation and last epoch). Each panel: bias (bias plus noise),
variance and diversity, means over the trials with ± 2·SEM bands (variance, diversity), and the expected ensemble
loss = bias + variance − diversity. Where the dataset holds independently drawn training sets
(mnist1d_draws) the trials are Wood et al.'s (a new training set per seed); elsewhere they differ in
initialisation and batch order only, as the panel title says; only the settings on independent
draws are drawn where there are any. Reads the `wood` table."""

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
            "No Wood et al. decomposition in this configuration: its bias and variance need an "
            "experiment whose seeds share one test set, a fixed split (a dataset's stored split, "
            "an own dataset's split_column or train_idx/val_idx/test_idx) or a number as "
            "split.seed; Wood et al.'s own trials draw a training set each (mnist1d_draws, "
            "config/open_questions.yaml's section wood). See config/README.md."
        )
    # Wood et al.'s trials draw a new training set each: the settings on independent draws, where
    # there are any; else every setting (its trials differ in initialisation and batch order)
    drawn = table[table["training_sets"] == "independent draws"]
    groups = list((drawn if len(drawn) else table).groupby(KEYS, dropna=False))
    selections = [s for s in SELECTIONS if s in set(table["selection"])]
    fig, axes = grid(len(groups), len(selections), sharex=True)
    for row, (key, frame) in enumerate(groups):
        sets = frame["training_sets"].iloc[0]
        trials = f"{int(frame['trials'].max())} trials, " + (
            "a training set each" if sets == "independent draws" else "one training set"
        )
        for column, selection in enumerate(selections):
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
            ax.set_ylim(bottom=0)
            ax.set(
                title=f"{setting_label(key)}\n{trials}\n{SELECTION_LABEL[selection]}",
                xlabel="β" if row == len(groups) - 1 else "",
                ylabel="test loss",
            )
    legend_below(fig, axes, columns=2)
    return fig
