"""Test diversity and test ensemble loss vs β (claim 2): DIV explodes, the loss does not improve."""

from .common import SELECTION_STYLE, panel_grid, setting_label, settings


def draw(tables):
    sweep = tables["beta_sweep"]
    groups = settings(sweep)
    fig, axes = panel_grid(len(groups))
    for ax, (key, frame) in zip(axes, groups):
        twin = ax.twinx()
        for selection, part in frame.groupby("selection"):
            part = part.sort_values("beta")
            style = SELECTION_STYLE.get(selection, "-")
            ax.plot(part["beta"], part["test_DIV_mean"], style, color="C0", marker="o", label=f"DIV ({selection})")
            twin.plot(part["beta"], part["test_L_ens_mean"], style, color="C3", marker="s", label=f"L_ens ({selection})")
        ax.set_yscale("symlog", linthresh=1e-2)
        ax.set(title=setting_label(key), xlabel="β")
        ax.set_ylabel("test DIV", color="C0")
        twin.set_ylabel("test L_ens", color="C3")
        lines = ax.get_legend_handles_labels()
        more = twin.get_legend_handles_labels()
        ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7)
    return fig
