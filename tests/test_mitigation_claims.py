"""The mitigation questions on hand-made run tables: differences, tests, criterion and answers."""

import numpy as np
import pandas as pd
import pytest

from collusion import figures, pipeline
from collusion.mitigation_claims import answer, headline, mitigation_rows, write_section

SEEDS = range(8)
NOISE = np.array([1, -1, 2, -2, 1, -1, 2, -2]) * 1e-3  # symmetric about 0: no effect of its own


def runs(values: dict) -> pd.DataFrame:
    """``values``: (experiment, beta) -> per-seed test error; one best_val row per run."""
    rows = []
    for (experiment, beta), errors in values.items():
        for seed, error in zip(SEEDS, errors):
            rows.append(
                {
                    "experiment": experiment,
                    "dataset": "d",
                    "model": "mlp",
                    "aggregation": "score",
                    "members": 5,
                    "beta": beta,
                    "seed": seed,
                    "selection": "best_val",
                    "status": "completed",
                    "test_error": error,
                    "test_L_ens": 10 * error,
                    "test_DIV": 1.0,
                }
            )
    return pd.DataFrame(rows)


BASE0 = 0.10 + NOISE
BASE1 = np.array([0.20, 0.21, 0.19, 0.22, 0.20, 0.18, 0.21, 0.19])
MITIGATIONS = {
    "full": {"baseline": "base", "mitigation": "A"},
    "part": {"baseline": "base", "mitigation": "B"},
}


def table():
    frame = runs(
        {
            ("base", 0.0): BASE0,
            ("base", 1.0): BASE1,
            ("full", 1.0): BASE0[::-1] + NOISE,  # back at β = 0's level
            ("part", 1.0): BASE1 - 0.06,
        }
    )  # 60 % of the cost recovered in every seed
    return mitigation_rows(frame, MITIGATIONS, 0.05)


def row(t, experiment, comparison, endpoint="test_error"):
    chosen = t[
        (t["experiment"] == experiment)
        & (t["comparison"] == comparison)
        & (t["endpoint"] == endpoint)
    ]
    assert len(chosen) == 1
    return chosen.iloc[0]


def test_recovery_and_remaining_cost_by_hand():
    t = table()
    part = row(t, "part", "recovery")
    assert part["diff_mean"] == pytest.approx(0.06)
    assert part["reference_mean"] == pytest.approx(BASE1.mean())
    assert part["mitigated_mean"] == pytest.approx(BASE1.mean() - 0.06)
    assert part["effect"] == pytest.approx(0.06 / (BASE1 - BASE0).mean())  # the share of the cost
    assert part["p_exact"] == pytest.approx(2 / 2**8)  # every seed the same way
    assert part["p_holm"] == pytest.approx(2 * 2 / 2**8)  # two mitigations in the primary family
    assert part["verdict"] == "supported" and part["answer"] == "partly recovers"
    cost = row(t, "part", "remaining cost")
    assert (
        cost["diff_mean"] == pytest.approx((BASE1 - 0.06 - BASE0).mean())
        and cost["verdict"] == "supported"
    )

    full = row(t, "full", "recovery")
    assert full["verdict"] == "supported" and full["effect"] == pytest.approx(1.0, abs=0.05)
    full_cost = row(t, "full", "remaining cost")
    assert (
        full_cost["diff_mean"] == pytest.approx(0.0, abs=1e-12)
        and full_cost["verdict"] == "not significant"
    )
    assert full["answer"] == full_cost["answer"] == "recovers"
    assert set(t.loc[t["endpoint"] == "test_DIV", "answer"]) == {
        "no recovery shown"
    }  # DIV equal everywhere


def test_a_significant_recovery_below_half_the_cost_is_not_supported():
    frame = runs({("base", 0.0): BASE0, ("base", 1.0): BASE1, ("part", 1.0): BASE1 - 0.02})
    recovery = row(mitigation_rows(frame, {"part": MITIGATIONS["part"]}, 0.05), "part", "recovery")
    assert recovery["p_holm"] < 0.05 and recovery["effect"] < 0.5 and not recovery["criterion_met"]
    assert recovery["verdict"] == "not significant" and recovery["answer"] == "no recovery shown"


def test_diverged_runs_are_left_out_of_the_pairs():
    frame = runs({("base", 0.0): BASE0, ("base", 1.0): BASE1, ("part", 1.0): BASE1 - 0.06})
    frame.loc[(frame["experiment"] == "part") & (frame["seed"] == 3), "status"] = "diverged"
    recovery = row(mitigation_rows(frame, {"part": MITIGATIONS["part"]}, 0.05), "part", "recovery")
    assert (
        recovery["n_seeds"] == 7
        and recovery["n_diverged"] == 1
        and "3" not in recovery["seeds"].split(";")
    )


@pytest.mark.parametrize(
    "recovery, cost, expected",
    [
        ("supported", "not significant", "recovers"),
        ("supported", "contradicted", "recovers, beats β = 0"),
        ("supported", "supported", "partly recovers"),
        ("contradicted", "supported", "worse"),
        ("not significant", "supported", "no recovery shown"),
        ("insufficient data", "insufficient data", "insufficient data"),
    ],
)
def test_the_answer_from_the_two_verdicts(recovery, cost, expected):
    assert answer(recovery, cost) == expected


def test_the_report_section_and_its_headline(tmp_path):
    t = table()
    lines = headline(t)
    assert list(lines["answer"]) == ["recovers", "partly recovers"]
    path = tmp_path / "claims.md"
    path.write_text("# Claims\n")
    write_section(t, path, 0.05)
    text = path.read_text()
    assert (
        text.startswith("# Claims\n")
        and "## Mitigations: does mitigation X recover β = 1's loss?" in text
    )
    assert "partly recovers" in text
    empty = tmp_path / "empty.md"
    write_section(mitigation_rows(t.iloc[0:0], {}, 0.05), empty, 0.05)
    assert "No mitigation experiment in this configuration" in empty.read_text()


def test_mitigation_labels_name_the_options_on():
    config = {
        "experiments": {"base": {"recipe": "r"}, "m": {"recipe": "rm", "baseline": "base"}},
        "recipes": {"r": {"lr": 0.1}, "rm": {"lr": 0.1, "learner_dropout": 0.5, "beta_warmup": 5}},
    }
    assert pipeline.mitigation_experiments(config) == {
        "m": {"baseline": "base", "mitigation": "learner_dropout 0.5, beta_warmup 5"}
    }
    config["recipes"]["rm"] = {"lr": 0.1, "gncl": True}  # an on/off option: its name and meaning
    assert pipeline.mitigation_experiments(config)["m"]["mitigation"] == "gncl (λ = β)"


def test_the_figure_draws_the_baseline_and_each_mitigation_with_its_answer():
    frame = runs(
        {
            ("base", 0.0): BASE0,
            ("base", 1.0): BASE1,
            ("full", 1.0): BASE0[::-1] + NOISE,
            ("part", 1.0): BASE1 - 0.06,
        }
    )
    fig = figures.draw(
        "mitigations",
        {"mitigation_claims": mitigation_rows(frame, MITIGATIONS, 0.05), "runs": frame},
    )
    (ax,) = fig.axes  # one setting, one selection
    assert [line.get_label() for line in ax.lines][:1] == ["unmitigated"]
    assert len(ax.containers) == 2  # an error bar per mitigation
    assert sorted(text.get_text() for text in ax.texts) == ["partly recovers", "recovers"]
    no_rows = mitigation_rows(frame.iloc[0:0], {}, 0.05)
    empty = figures.draw("mitigations", {"mitigation_claims": no_rows, "runs": frame})
    assert "no mitigation experiment" in empty.axes[0].texts[0].get_text().lower()
