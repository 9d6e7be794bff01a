"""Paper Fig. 6 (left): ensemble test accuracy vs β, the architectures overlaid in one panel per
dataset (and aggregation), mean ± 2·SEM over seeds (clipped to 0–100 %); one row per checkpoint
selection (claims 1, 7)."""

from .common import (
    PERCENT,
    SELECTION_LABEL,
    SELECTIONS,
    band,
    block_grid,
    completed_only,
    diverged_note,
    empty_figure,
    fit_titles,
    legend_below,
    plot_band,
)

PANEL_KEYS = ["experiment", "dataset", "aggregation", "members"]


def draw(tables):
    runs = tables["runs"]
    runs, n_diverged = completed_only(runs[runs["aggregation"] != "regression"], runs)
    if runs.empty:
        return empty_figure(
            "no classification setting in this configuration (see the `diversity` figure)"
        )
    runs = runs.assign(test_accuracy=100 * runs["test_acc"])
    panels = list(runs.groupby(PANEL_KEYS))
    selections = [s for s in SELECTIONS if s in set(runs["selection"])]
    fig, axes = block_grid(len(selections), len(panels))
    for row, selection in enumerate(selections):
        for column, (key, frame) in enumerate(panels):
            ax = axes[row, column]
            for index, (model, part) in enumerate(
                frame[frame["selection"] == selection].groupby("model")
            ):
                plot_band(
                    ax,
                    band(part, ["beta"], "test_accuracy", "2sem", PERCENT),
                    "beta",
                    color=f"C{index}",
                    label=model,
                )
            experiment, dataset, aggregation, members = key
            title = f"{dataset} · {aggregation} · M={members}"
            ax.set(
                title=title if experiment == dataset else f"{experiment}: {title}",
                xlabel="β",
                ylabel=f"{SELECTION_LABEL[selection]}\ntest accuracy (%)"
                if ax.get_subplotspec().is_first_col()
                else "test accuracy (%)",
            )
    legend_below(fig, axes, title="architecture")
    diverged_note(fig, n_diverged)
    fit_titles(fig)
    return fig
