"""The paper's tabular figures: test error (MSE for regression) and test DIV vs β per setting,
mean ± 1 SD over seeds, both selections (claims 1 and 2: DIV explodes, the loss does not improve)."""

from .common import (
    SELECTION_LABEL,
    SELECTION_STYLE,
    band,
    completed_only,
    diverged_note,
    error_label,
    error_values,
    grid,
    legend_below,
    plot_band,
    setting_label,
    settings,
)


def draw(tables):
    runs, n_diverged = completed_only(tables["runs"], tables["runs"])
    groups = settings(runs)
    fig, axes = grid(2, len(groups), sharex=True)
    for column, (key, frame) in enumerate(groups):
        aggregation = key[3]
        frame = frame.assign(error=error_values(frame, "test_error", aggregation))
        top, bottom = axes[0, column], axes[1, column]
        for selection, part in frame.groupby("selection"):
            style = dict(
                color="k" if selection == "best_val" else "0.5",
                ls=SELECTION_STYLE[selection],
                label=SELECTION_LABEL[selection],
            )
            plot_band(top, band(part, ["beta"], "error", "sd"), "beta", **style)
            plot_band(bottom, band(part, ["beta"], "test_DIV", "sd"), "beta", **style)
        top.set(title=setting_label(key), ylabel=error_label(aggregation))
        bottom.set(
            xlabel="β",
            ylabel="test DIV (nats)" if aggregation != "regression" else "test DIV (MSE units)",
        )
        bottom.set_yscale("log", nonpositive="clip")  # DIV ≥ 0 (Jensen); a band below 0 is clipped
    legend_below(fig, axes, title="checkpoint")
    diverged_note(fig, n_diverged)
    return fig
