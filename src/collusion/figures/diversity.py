"""The paper's tabular figures: test error (MSE for regression) and test DIV (log scale) vs β per
setting, mean ± 1 SD over seeds, both selections in two colours (claims 1 and 2)."""

from .common import (
    band,
    block_grid,
    completed_only,
    div_axis,
    diverged_note,
    error_label,
    error_range,
    error_values,
    legend_below,
    plot_band,
    selection_style,
    setting_label,
    settings,
)


def draw(tables):
    runs, n_diverged = completed_only(tables["runs"], tables["runs"])
    groups = settings(runs)
    fig, axes = block_grid(2, len(groups), sharex=True)
    for column, (key, frame) in enumerate(groups):
        aggregation = key[3]
        frame = frame.assign(error=error_values(frame, "test_error", aggregation))
        top, bottom = axes[0, column], axes[1, column]
        for selection, part in frame.groupby("selection"):
            style = selection_style(selection)
            error = band(part, ["beta"], "error", "sd", error_range(aggregation))
            plot_band(top, error, "beta", **style)
            plot_band(bottom, band(part, ["beta"], "test_DIV", "sd"), "beta", **style)
        top.set(title=setting_label(key), ylabel=error_label(aggregation))
        bottom.set(
            xlabel="β",
            ylabel="test DIV (nats)" if aggregation != "regression" else "test DIV (MSE units)",
        )
        div_axis(bottom, aggregation)
    legend_below(fig, axes, title="checkpoint")
    diverged_note(fig, n_diverged)
    return fig
