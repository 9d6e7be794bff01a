"""% of diversity removed by debiasing each learner's mean offset, vs β (claim 4)."""

from .common import SELECTION_STYLE, empty_figure, panel_grid, setting_label, settings


def draw(tables):
    summary = tables["debias"].dropna(subset=["DIV_decrease_pct_mean"])
    if summary.empty:
        return empty_figure("debiasing applies to regression and score averaging only")
    groups = settings(summary)
    fig, axes = panel_grid(len(groups))
    for ax, (key, frame) in zip(axes, groups):
        for selection, part in frame.groupby("selection"):
            part = part.sort_values("beta")
            mean, band = part["DIV_decrease_pct_mean"], 2 * part["DIV_decrease_pct_sem"].fillna(0)
            ax.plot(part["beta"], mean, SELECTION_STYLE.get(selection, "-"), marker="o", label=selection)
            ax.fill_between(part["beta"], mean - band, mean + band, alpha=0.2)
        ax.set(title=setting_label(key), xlabel="β", ylabel="% DIV removed by debiasing", ylim=(0, 100))
        ax.legend(fontsize=8)
    return fig
