"""Increase of test error when a fraction of learners is dropped at test time, per β (claim 5)."""

from .common import beta_colours, panel_grid, setting_label, settings


def draw(tables):
    summary = tables["learner_dropout"]
    summary = summary[summary["selection"] == summary["selection"].iloc[-1]]  # one selection: last listed
    groups = settings(summary)
    fig, axes = panel_grid(len(groups))
    betas = sorted(summary["beta"].unique())
    colours = beta_colours(betas)
    for ax, (key, frame) in zip(axes, groups):
        for colour, beta in zip(colours, betas):
            part = frame[frame["beta"] == beta].sort_values("fraction")
            ax.errorbar(part["fraction"], part["increase_mean"], yerr=2 * part["increase_sem"].fillna(0),
                        color=colour, marker="o", capsize=2, label=f"β={beta:g}")
        ax.set(title=f"{setting_label(key)}\n({frame['selection'].iloc[0]})", xlabel="fraction of learners dropped",
               ylabel="increase in test error")
        ax.legend(fontsize=7)
    return fig
