"""Generalisation gap (test − train ensemble loss) over training, per β, mean over seeds (claim 3)."""

from .common import beta_colours, panel_grid, setting_label, settings


def draw(tables):
    gap = tables["gengap"]
    groups = settings(gap)
    fig, axes = panel_grid(len(groups))
    betas = sorted(gap["beta"].unique())
    colours = beta_colours(betas)
    for ax, (key, frame) in zip(axes, groups):
        for colour, beta in zip(colours, betas):
            curve = frame[frame["beta"] == beta].groupby("epoch")["gen_gap"].mean()
            if len(curve):
                ax.plot(curve.index, curve.values, color=colour, label=f"β={beta:g}")
        ax.set(title=setting_label(key), xlabel="epoch", ylabel="test − train L_ens")
        ax.legend(fontsize=7)
    return fig
