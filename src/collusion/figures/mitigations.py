"""Test error vs β per mitigation: the unmitigated baseline's sweep (line and band) and each
mitigation experiment's runs at its β (markers with error bars), mean ± 2·SEM over seeds; one
panel per setting, one row per checkpoint selection; each mitigated point is labelled with its
computed answer (collusion.mitigation_claims)."""

from matplotlib import patheffects
from matplotlib.text import Text
from matplotlib.transforms import Affine2D

from .common import (
    SELECTION_LABEL,
    SELECTIONS,
    band,
    block_grid,
    completed_only,
    diverged_note,
    empty_figure,
    error_label,
    error_range,
    error_values,
    legend_below,
    plot_band,
)

SETTING = ["dataset", "model", "aggregation", "members"]
OFFSET = 0.025  # β units between the markers of successive mitigations
HALO = [patheffects.withStroke(linewidth=1.5, foreground="white")]


def draw(tables):
    claims, runs = tables["mitigation_claims"], tables["runs"]
    if claims.empty:
        return empty_figure(
            "No mitigation experiment in this configuration: this figure needs an experiment "
            "whose recipe turns a mitigation on and whose baseline: names its unmitigated "
            "partner (config/README.md, experiments; config/open_questions.yaml has them)."
        )
    pairs = claims[["experiment", "baseline", "mitigation"]].drop_duplicates("experiment")
    wanted = set(pairs["experiment"]) | set(pairs["baseline"])
    runs, n_diverged = completed_only(runs[runs["experiment"].isin(wanted)], runs)
    panels = list(claims.groupby(["baseline", *SETTING], sort=False))
    selections = [s for s in SELECTIONS if s in set(claims["selection"])]
    # panels widened 1.6 times below: five to a row of blocks (17.6 inches, 3,520 px)
    fig, axes = block_grid(len(selections), len(panels), most=5)
    width, height = fig.get_size_inches()
    fig.set_size_inches(1.6 * width, height + 0.3)  # room for the answers beside the markers
    key = ["experiment", *SETTING, "beta", "selection"]
    answers = (
        claims[claims["endpoint"] == "test_error"].drop_duplicates(key).set_index(key)["answer"]
    )
    for row, selection in enumerate(selections):
        for column, ((baseline, *setting), _) in enumerate(panels):
            ax = axes[row, column]
            here = runs[(runs[SETTING] == setting).all(axis=1) & (runs["selection"] == selection)]
            aggregation = setting[2]
            here = here.assign(error=error_values(here, "test_error", aggregation))
            base = here[here["experiment"] == baseline]
            labels = []  # (β, x, y, answer, colour) of each mitigated point
            within = error_range(aggregation)
            plot_band(
                ax,
                band(base, ["beta"], "error", "2sem", within),
                "beta",
                color="0.25",
                label="unmitigated",
            )
            for index, pair in enumerate(pairs[pairs["baseline"] == baseline].itertuples()):
                mine = band(
                    here[here["experiment"] == pair.experiment], ["beta"], "error", "2sem", within
                )
                x = mine["beta"] + (index + 1) * OFFSET
                ax.errorbar(
                    x,
                    mine["mean"],
                    yerr=[mine["mean"] - mine["low"], mine["high"] - mine["mean"]],
                    fmt="s",
                    color=f"C{index}",
                    capsize=2,
                    label=pair.mitigation,
                )
                for xi, beta, mean in zip(x, mine["beta"], mine["mean"]):
                    text = answers.get((pair.experiment, *setting, beta, selection), "")
                    labels.append((beta, xi, mean, text, f"C{index}"))
            place_answers(ax, labels)
            dataset, model, _, members = setting
            ax.set(
                title=f"{dataset} · {model} · {aggregation} · M={members}",
                xlabel="β",
                ylabel=(
                    f"{SELECTION_LABEL[selection]}\n" if ax.get_subplotspec().is_first_col() else ""
                )
                + error_label(aggregation),
            )
    legend_below(fig, axes, title="mitigation (recipe option)", columns=2)
    diverged_note(fig, n_diverged)
    return fig


def place_answers(ax, labels, fontsize: float = 5, spacing: float = 1.0) -> None:
    """Each mitigated point's answer to the right of the rightmost marker at its β, at its point's
    height unless that overlaps the answer below it: then ``spacing`` points above that one; a thin
    line to its point. ``labels``: (β, x, y, answer, colour) of each point. The heights are found
    when the figure is drawn, in display coordinates: measured in data units before the layout had
    shrunk the panel, the spacing came out too small and answers of points at about the same error
    were drawn over each other."""
    for beta in sorted({label[0] for label in labels}):
        here = sorted((label for label in labels if label[0] == beta), key=lambda label: label[2])
        x_text = max(label[1] for label in here) + OFFSET
        below = None
        for _, x, y, text, colour in here:
            below = ax.annotate(
                text,
                (x, y),
                xytext=(0, 0),
                textcoords=_Beside(ax, (x_text, y), below, spacing),
                fontsize=fontsize,
                color=colour,
                va="center",
                path_effects=HALO,  # readable where the baseline's line or band runs behind it
                arrowprops={"arrowstyle": "-", "color": colour, "lw": 0.4, "shrinkA": 0},
            )


class _Beside:
    """The position of an answer, as a translation to display coordinates, found at draw time:
    ``point`` (data coordinates), raised to ``spacing`` points above the answer ``below`` (None:
    the lowest at its β) where it would overlap it."""

    def __init__(self, ax, point, below, spacing: float):
        self.ax, self.point, self.below, self.spacing = ax, point, below, spacing

    def __call__(self, renderer):
        x, y = self.ax.transData.transform(self.point)
        if self.below is not None:  # answers of one font and one line: the same height
            box = Text.get_window_extent(self.below, renderer)  # its text, not its line
            lowest = box.y1 + renderer.points_to_pixels(self.spacing) + box.height / 2
            y = max(y, lowest)
        return Affine2D().translate(x, y)
