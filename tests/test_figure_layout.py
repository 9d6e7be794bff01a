"""The layout of figures with one block of panels per setting: many settings wrap into rows of
blocks (open_questions.yaml's 88 settings drew 38,720-px-wide strips), a few keep one row; and
the mitigations figure's answers stay apart. Synthetic tables."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from collusion import figures
from collusion.figures import common

SELECTIONS = ("best_val", "last")
BETAS = (0.0, 0.5, 1.0)
SEEDS = (0, 1)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def setting(i: int) -> dict:
    return dict(experiment="e", dataset=f"d{i}", model="mlp", aggregation="score", members=5)


def runs(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                **setting(i),
                "beta": beta,
                "seed": seed,
                "selection": selection,
                "status": "completed",
                "test_error": 0.3 + 0.1 * beta + 0.01 * seed,
                "test_acc": 0.7 - 0.1 * beta - 0.01 * seed,
                "test_DIV": 0.1 + beta + 0.01 * seed,
            }
            for i, beta, seed, selection in itertools.product(range(n), BETAS, SEEDS, SELECTIONS)
        ]
    )


def tables(name: str, n: int) -> dict:
    """The tables figure ``name`` reads, with ``n`` settings (blocks)."""
    sweep = runs(n)
    per_run = sweep[sweep["selection"] == "last"].drop(columns="selection")
    if name in ("diversity", "beta_sweep"):
        return {"runs": sweep}
    if name == "learner_dropout":
        frame = pd.concat(
            [sweep.assign(fraction=f, increase=f * sweep["test_error"]) for f in (0.2, 0.4)]
        )
        return {"learner_dropout": frame, "runs": sweep}
    if name == "pseudo_diversity":
        curves = pd.concat([per_run.assign(epoch=e) for e in (1, 2, 3)])
        for quantity in ("DIV", "L_ens"):
            curves[f"train_{quantity}"] = 0.1 + 0.1 * curves["epoch"]
            curves[f"test_{quantity}"] = 0.2 + 0.1 * curves["epoch"]
        return {"curves": curves, "runs": sweep}
    if name == "dynamics":
        first = per_run[(per_run["seed"] == 0) & per_run["beta"].isin([0.0, 1.0])]
        frame = pd.concat(
            [
                first.assign(epoch=e, learner=learner, split="val", metric="accuracy", value=0.5)
                for e in (1, 2, 3)
                for learner in ("ensemble", "member0", "member1")
            ]
        )
        return {"dynamics": frame}
    if name == "ensemble_size":
        rows = [
            {**setting(i), "study": f"s{i}", "members": m, "selection": selection, "beta": beta}
            | {"test_error_mean": 0.3 + beta / m, "test_error_sem": 0.01}
            for i, m, selection, beta in itertools.product(range(n), (2, 5), SELECTIONS, (0.0, 1.0))
        ]
        return {"ensemble_size": pd.DataFrame(rows)}
    if name == "capacity_map":
        rows = [
            {**setting(0), "experiment": f"c{i}", "width": w, "members": m, "selection": selection}
            | {"diff_mean": 0.01 * w, "ci_low": 0.0, "ci_high": 0.1, "p_holm": 0.5, "n": 2}
            | {"DIV_beta0": 0.1, "DIV_beta1": 1.0, "DIV_ratio": 10.0}
            for i, w, m, selection in itertools.product(range(n), (4, 16), (2, 5), SELECTIONS)
        ]
        return {"capacity": pd.DataFrame(rows)}
    if name == "mitigations":
        mitigated = sweep[sweep["beta"] == 1.0].assign(experiment="m")
        claims = mitigated[[*common.SETTING_KEYS, "beta", "selection"]].drop_duplicates()
        claims = claims.assign(
            baseline="e", mitigation="A", endpoint="test_error", answer="no recovery shown"
        )
        return {"mitigation_claims": claims, "runs": pd.concat([sweep, mitigated])}
    raise KeyError(name)


# figure -> panel rows per block, panel columns per block
BLOCKS = {
    "diversity": (2, 1),
    "pseudo_diversity": (2, 1),
    "dynamics": (2, 1),
    "learner_dropout": (2, 1),
    "ensemble_size": (2, 1),
    "beta_sweep": (2, 1),
    "mitigations": (2, 1),
    "capacity_map": (2, 2),
}


def grid_cells(fig):
    """(row, column) in the figure's grid of every visible panel (colour bars left out)."""
    return {
        (ax.get_subplotspec().rowspan.start, ax.get_subplotspec().colspan.start)
        for ax in fig.axes
        if ax.get_visible() and ax.get_subplotspec() is not None and ax.get_label() != "<colorbar>"
    }


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_many_settings_wrap_into_rows_of_blocks(name):
    """13 settings (6 groups of capacity maps): the figure is at most 22 inches (4,400 px at the
    PNG's 200 dpi) wide, its panels fill several rows of blocks, and every setting is drawn."""
    rows, width = BLOCKS[name]
    n = 6 if width == 2 else 13
    fig = figures.draw(name, tables(name, n))
    cells = grid_cells(fig)
    assert fig.get_figwidth() <= 22, fig.get_size_inches()
    assert len(cells) == n * rows * width  # no panel lost, no unused one shown
    assert len({column for _, column in cells}) <= common.WRAP_COLUMNS
    assert len({row for row, _ in cells}) > rows  # several rows of blocks


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_few_settings_keep_one_row(name):
    """Blocks that fit one row: the figure of the one-row ``grid`` it always was (the default
    configuration's five settings keep their layout)."""
    rows, width = BLOCKS[name]
    n = 3 if width == 2 else 5
    fig = figures.draw(name, tables(name, n))
    cells = grid_cells(fig)
    assert cells == {(r, c) for r in range(rows) for c in range(n * width)}
    old, _ = common.grid(rows, n * width)
    scale = {"capacity_map": (1.3, 1.1), "mitigations": (1.6, 1.0)}.get(name, (1.0, 1.0))
    extra = 0.3 if name == "mitigations" else 0.0  # the figures' own resizing
    assert fig.get_size_inches() == pytest.approx(
        old.get_size_inches() * np.array(scale) + [0, extra]
    )


def test_block_grid_indexes_axes_as_grid_and_shares_x_within_a_block_only():
    fig, axes = common.block_grid(2, 8, sharex=True)
    assert axes.shape == (2, 8)
    spec = axes[1, 7].get_subplotspec()  # block 7: the second row of blocks, its second column
    assert (spec.rowspan.start, spec.colspan.start) == (3, 1)
    assert axes[0, 7].get_shared_x_axes().joined(axes[0, 7], axes[1, 7])
    assert not axes[0, 7].get_shared_x_axes().joined(axes[0, 7], axes[0, 1])
    assert not axes[0, 1].get_shared_x_axes().joined(axes[1, 1], axes[0, 7])  # same grid column
    # tick labels under each block's bottom panel, the upper rows of blocks included
    assert not axes[0, 1].xaxis.get_tick_params().get("labelbottom", True)
    assert axes[1, 1].xaxis.get_tick_params().get("labelbottom", True)
    hidden = [ax for ax in fig.axes if not ax.get_visible()]
    assert len(hidden) == 2 * 4  # the second row of blocks has 2 of 6
    # blocks two panels wide (the capacity map's error and DIV maps): three to a row
    _, pairs = common.block_grid(2, 4, block_columns=2)
    assert pairs.shape == (2, 8)
    spec = pairs[0, 7].get_subplotspec()  # block 3's DIV map: second row of blocks, first block
    assert (spec.rowspan.start, spec.colspan.start) == (2, 1)


def test_mitigation_answers_at_about_one_error_do_not_overlap():
    """open_questions.yaml: four mitigations at β = 0.5 within 2 points of error, two selections:
    the answers were spread by a line measured before the layout shrank the panels, and drawn
    over each other. Measured as drawn, no two answers' texts overlap, each is right of its
    marker, in its mitigation's colour."""
    base = runs(1)
    mitigated, claims = [], []
    for index, name in enumerate("ABCD"):
        part = base[base["beta"] == 0.5].assign(experiment=name)
        part["test_error"] += 0.002 * index
        mitigated.append(part)
        claims.append(
            part[[*common.SETTING_KEYS, "beta", "selection"]]
            .drop_duplicates()
            .assign(
                baseline="e", mitigation=name, endpoint="test_error", answer="no recovery shown"
            )
        )
    fig = figures.draw(
        "mitigations",
        {"mitigation_claims": pd.concat(claims), "runs": pd.concat([base, *mitigated])},
    )
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        answers = ax.texts
        assert len(answers) == 4
        boxes = [Text.get_window_extent(a, renderer) for a in answers]  # the text, no line
        for one, other in itertools.combinations(boxes, 2):
            assert not one.overlaps(other), (one, other)
        markers = {}  # x of each mitigation's marker -> its colour
        for bars in ax.containers:
            line = bars.lines[0]
            markers.update({x: line.get_color() for x in line.get_xdata()})
        for box, answer in zip(boxes, answers):
            assert box.x0 > ax.transData.transform(answer.xy)[0]
            assert answer.get_color() == markers[answer.xy[0]]


@pytest.mark.parametrize("name", ["diversity", "pseudo_diversity"])
def test_summed_logits_div_is_drawn_on_a_linear_axis_below_zero_too(name):
    """Under summed logits DIV is not a variance and is often negative (open_questions.yaml's β = 0
    runs): on a log axis only β = 1 showed. Its panels are linear and reach the negative values;
    a score-averaged setting's DIV keeps its log axis."""
    tables_ = tables(name, 2)
    for frame in tables_.values():
        if "aggregation" in frame:
            frame.loc[frame["dataset"] == "d1", "aggregation"] = "sum"
    summed = tables_["runs"]["dataset"] == "d1"
    tables_["runs"].loc[summed, "test_DIV"] -= 2.0  # −1.9 at β = 0
    if name == "pseudo_diversity":
        curves = tables_["curves"]
        curves.loc[curves["dataset"] == "d1", ["train_DIV", "test_DIV"]] -= 2.0
    fig = figures.draw(name, tables_)
    div_panels = [ax for ax in fig.axes if ax.get_visible() and "DIV" in ax.get_ylabel()]
    by_scale = {ax.get_yscale() for ax in div_panels}
    assert by_scale == {"log", "linear"}
    (linear,) = [ax for ax in div_panels if ax.get_yscale() == "linear"]
    assert linear.get_ylim()[0] < -1.5
