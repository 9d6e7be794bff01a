"""Test error of the ensemble vs β, mean ± 2·SEM over seeds (paper Fig. 1/3; claims 1 and 7)."""

from .common import error_label, panel_grid, plot_selections_with_band, setting_label, settings


def draw(tables):
    sweep = tables["beta_sweep"]
    groups = settings(sweep)
    fig, axes = panel_grid(len(groups))
    for ax, (key, frame) in zip(axes, groups):
        plot_selections_with_band(ax, frame, "test_error")
        ax.set(title=setting_label(key), xlabel="β", ylabel=error_label(key[3]))
        ax.legend(fontsize=8)
    return fig
