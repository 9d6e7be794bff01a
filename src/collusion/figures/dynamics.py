"""Training dynamics: ensemble vs each learner on the test set, β = 0 vs β = 1 (claim 6)."""

from .common import panel_grid, setting_label, settings


def draw(tables):
    dynamics = tables["dynamics"]
    dynamics = dynamics[dynamics["split"] == "test"]
    groups = [(key + (beta,), frame[frame["beta"] == beta]) for key, frame in settings(dynamics)
              for beta in sorted(frame["beta"].unique())]
    fig, axes = panel_grid(len(groups), columns=2)
    for ax, (key, frame) in zip(axes, groups):
        metric = frame["metric"].iloc[0]
        for learner, part in frame.groupby("learner"):
            if learner == "ensemble":
                ax.plot(part["epoch"], part["value"], color="black", lw=2, label="ensemble", zorder=3)
            else:
                ax.plot(part["epoch"], part["value"], color="C0", lw=0.8, alpha=0.6,
                        label="learners" if learner == "member0" else None)
        ax.set(title=f"{setting_label(key[:5])}, β={key[5]:g}", xlabel="epoch", ylabel=f"test {metric}")
        if metric == "loss":
            ax.set_yscale("log")
        ax.legend(fontsize=8)
    return fig
