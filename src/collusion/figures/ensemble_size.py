"""Ensemble-size study: test error vs the number of learners M, one line per β, mean ± 2·SEM over
seeds (clipped to the error's range), one row per selection. Reads the `ensemble_size` table,
which takes the study's sizes from its own experiment and the sizes it shares (e.g. M = 5) from
its partner experiment's runs."""

from .common import (
    SELECTION_LABEL,
    SELECTIONS,
    beta_colour,
    block_grid,
    clipped,
    empty_figure,
    error_label,
    error_range,
    fit_titles,
    legend_below,
)

KEYS = ["study", "dataset", "model", "aggregation"]


def draw(tables):
    table = tables["ensemble_size"]
    if table.empty:
        return empty_figure("no experiment varies the ensemble size in this configuration")
    groups = list(table.groupby(KEYS))
    selections = [s for s in SELECTIONS if s in set(table["selection"])]
    fig, axes = block_grid(len(selections), len(groups))
    for row, selection in enumerate(selections):
        for column, (key, frame) in enumerate(groups):
            ax = axes[row, column]
            scale = 1 if key[3] == "regression" else 100
            for beta, part in frame[frame["selection"] == selection].groupby("beta"):
                part = part.sort_values("members")
                mean = scale * part["test_error_mean"]
                half = scale * 2 * part["test_error_sem"].fillna(0)
                low, high = clipped(mean, half, error_range(key[3]))  # what an error can be
                ax.errorbar(
                    part["members"],
                    mean,
                    yerr=[mean - low, high - mean],
                    color=beta_colour(beta),
                    marker="o",
                    capsize=2,
                    label=f"{beta:g}",
                )
            ax.set_xticks(sorted(frame["members"].unique()))
            ax.set(
                title=f"{key[0]}: {key[1]} · {key[2]} · {key[3]}",
                xlabel="ensemble size M",
                ylabel=f"{SELECTION_LABEL[selection]}\n{error_label(key[3])}"
                if ax.get_subplotspec().is_first_col()
                else error_label(key[3]),
            )
    legend_below(fig, axes, title="β", columns=11)
    fit_titles(fig)
    return fig
