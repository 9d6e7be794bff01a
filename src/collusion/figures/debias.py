"""% of diversity removed by debiasing each learner's mean offset, vs β (claim 4)."""

from .common import empty_figure, panel_grid, plot_selections_with_band, setting_label, settings


def draw(tables):
    summary = tables["debias"].dropna(subset=["DIV_decrease_pct_mean"])
    if summary.empty:
        return empty_figure("debiasing applies to regression and score averaging only")
    groups = settings(summary)
    fig, axes = panel_grid(len(groups))
    for ax, (key, frame) in zip(axes, groups):
        plot_selections_with_band(ax, frame, "DIV_decrease_pct")
        ax.set(title=setting_label(key), xlabel="β", ylabel="% DIV removed by debiasing", ylim=(0, 100))
        ax.legend(fontsize=8)
    return fig
