"""Per setting: ensemble test error and the learners' mean test error vs β, both selections,
mean ± 2·SEM over seeds (detail behind paper Fig. 6 and the tabular figures; claims 1, 6, 7).
Log scale: at β = 1 the learners' error can be many times the ensemble's, and a linear axis up to
it would flatten the ensemble's own change with β."""

from .common import (
    SELECTION_LABEL,
    SELECTION_STYLE,
    band,
    completed_only,
    diverged_note,
    error_label,
    error_range,
    error_values,
    legend_below,
    log_axis,
    panel_grid,
    plot_band,
    setting_label,
    settings,
)


def draw(tables):
    runs, n_diverged = completed_only(tables["runs"], tables["runs"])
    groups = settings(runs)
    fig, axes = panel_grid(len(groups))
    for ax, (key, frame) in zip(axes, groups):
        aggregation = key[3]
        frame = frame.assign(
            ensemble=error_values(frame, "test_error", aggregation),
            learners=error_values(frame, "test_learner_error", aggregation),
        )
        for selection, part in frame.groupby("selection"):
            style = SELECTION_STYLE[selection]
            plot_band(
                ax,
                band(part, ["beta"], "ensemble", "2sem", error_range(aggregation)),
                "beta",
                color="k",
                ls=style,
                label=f"ensemble, {SELECTION_LABEL[selection]}",
            )
            plot_band(
                ax,
                band(part, ["beta"], "learners", "2sem", error_range(aggregation)),
                "beta",
                color="C1",
                ls=style,
                label=f"learners (mean), {SELECTION_LABEL[selection]}",
            )
        ax.set(title=setting_label(key), xlabel="β", ylabel=error_label(aggregation))
        log_axis(ax)
    legend_below(fig, axes, columns=2)
    diverged_note(fig, n_diverged)
    return fig
