"""The paper's learner-dropout figure: increase of the test error when a fraction of the learners
is dropped at test time, vs β, one line per fraction, mean ± 1 SD over seeds; one row per
selection (claim 5)."""

import matplotlib.pyplot as plt

from .common import (
    SELECTION_LABEL,
    SELECTIONS,
    band,
    block_grid,
    completed_only,
    diverged_note,
    legend_below,
    plot_band,
    setting_label,
    settings,
)


def draw(tables):
    dropout, n_diverged = completed_only(tables["learner_dropout"], tables["runs"])
    groups = settings(dropout)
    selections = [s for s in SELECTIONS if s in set(dropout["selection"])]
    fractions = sorted(dropout["fraction"].unique())
    colours = plt.cm.Oranges(
        [0.45 + 0.5 * i / max(1, len(fractions) - 1) for i in range(len(fractions))]
    )
    fig, axes = block_grid(len(selections), len(groups))
    for row, selection in enumerate(selections):
        for column, (key, frame) in enumerate(groups):
            ax = axes[row, column]
            frame = frame[frame["selection"] == selection]
            if key[3] != "regression":
                frame = frame.assign(increase=100 * frame["increase"])
            for colour, fraction in zip(colours, fractions):
                part = frame[frame["fraction"] == fraction]
                plot_band(
                    ax,
                    band(part, ["beta"], "increase", "sd"),
                    "beta",
                    color=colour,
                    label=f"{fraction:g}",
                )
            unit = (
                "increase in test MSE" if key[3] == "regression" else "increase in test error (pts)"
            )
            ax.set(
                title=setting_label(key),
                xlabel="β",
                ylabel=f"{SELECTION_LABEL[selection]}\n{unit}"
                if ax.get_subplotspec().is_first_col()
                else unit,
            )
    legend_below(fig, axes, title="fraction of learners dropped")
    diverged_note(fig, n_diverged)
    return fig
