"""The paper's debiasing figure: % of test DIV removed by subtracting each learner's mean offset,
vs β, mean ± 1 SD over seeds, both selections in two colours (claim 4)."""

from .common import (
    band,
    completed_only,
    diverged_note,
    empty_figure,
    legend_below,
    panel_grid,
    plot_band,
    selection_style,
    setting_label,
    settings,
)


def draw(tables):
    debias, n_diverged = completed_only(
        tables["debias"].dropna(subset=["DIV_decrease_pct"]), tables["runs"]
    )
    if debias.empty:
        return empty_figure(
            "debiasing applies to regression, score averaging and summed logits only"
        )
    groups = settings(debias)
    fig, axes = panel_grid(len(groups))
    for ax, (key, frame) in zip(axes, groups):
        for selection, part in frame.groupby("selection"):
            plot_band(
                ax,
                band(part, ["beta"], "DIV_decrease_pct", "sd"),
                "beta",
                **selection_style(selection),
            )
        ax.axhline(
            0, color="0.7", lw=0.6, zorder=0
        )  # below 0: debiasing raised DIV (possible for cross-entropy)
        ax.set(title=setting_label(key), xlabel="β", ylabel="test DIV removed (%)")
    legend_below(fig, axes, title="checkpoint")
    diverged_note(fig, n_diverged)
    return fig
