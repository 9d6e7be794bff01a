"""Test error of the ensemble vs β, mean ± 2·SEM over seeds (paper Fig. 1/3; claims 1 and 7)."""

from .common import SELECTION_STYLE, error_label, panel_grid, setting_label, settings


def draw(tables):
    sweep = tables["beta_sweep"]
    groups = settings(sweep)
    fig, axes = panel_grid(len(groups))
    for ax, (key, frame) in zip(axes, groups):
        for selection, part in frame.groupby("selection"):
            part = part.sort_values("beta")
            mean, band = part["test_error_mean"], 2 * part["test_error_sem"].fillna(0)
            ax.plot(part["beta"], mean, SELECTION_STYLE.get(selection, "-"), marker="o", label=selection)
            ax.fill_between(part["beta"], mean - band, mean + band, alpha=0.2)
        ax.set(title=setting_label(key), xlabel="β", ylabel=error_label(key[3]))
        ax.legend(fontsize=8)
    return fig
