"""Wood et al.'s bias–variance–diversity decomposition against hand computations and identities."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from collusion import objective, wood


def logits_of(*distributions):
    """Logits whose softmax is each given distribution (log p, up to a constant)."""
    return np.log(np.array(distributions, dtype=np.float64))


# q1 = (1/2, 1/2), q2 = (1/5, 4/5): the geometric mean is (√.1, √.4) = (1, 2)/√10, Z = 3/√10,
# so the normalised geometric mean is (1/3, 2/3) and the diversity is −log Z = ½ log(10/9)
Q1, Q2 = (0.5, 0.5), (0.2, 0.8)
DIVERSITY = 0.5 * math.log(10 / 9)


def test_one_trial_hand_computed_cross_entropy():
    outputs = logits_of(Q1, Q2)[:, None, :]  # (M=2, N=1, K=2)
    terms = wood.ambiguity(outputs, np.array([1]), "cross_entropy")
    assert terms["ensemble_loss"][0] == pytest.approx(math.log(3 / 2))  # −log(2/3)
    assert terms["member_loss"][0] == pytest.approx((math.log(2) + math.log(5 / 4)) / 2)
    assert terms["diversity"][0] == pytest.approx(DIVERSITY)
    # the KLs by hand: ½ [KL((⅓,⅔) ‖ (½,½)) + KL((⅓,⅔) ‖ (⅕,⅘))]
    kl1 = (1 / 3) * math.log((1 / 3) / 0.5) + (2 / 3) * math.log((2 / 3) / 0.5)
    kl2 = (1 / 3) * math.log((1 / 3) / 0.2) + (2 / 3) * math.log((2 / 3) / 0.8)
    assert (kl1 + kl2) / 2 == pytest.approx(DIVERSITY)


def test_trials_hand_computed_cross_entropy():
    # M = 1, two trials with q = Q1 and Q2: the member's centroid over trials is (1/3, 2/3),
    # bias = −log(2/3) at y = 1, variance = the same KLs as the diversity above, diversity = 0
    outputs = logits_of(Q1, Q2)[:, None, None, :]  # (S=2, M=1, N=1, K=2)
    terms = wood.decompose(outputs, np.array([1]), "cross_entropy")
    assert terms["bias"] == pytest.approx(math.log(3 / 2))
    assert terms["variance"] == pytest.approx(DIVERSITY)
    assert terms["diversity"] == pytest.approx(0.0, abs=1e-15)
    assert terms["expected_ensemble_loss"] == pytest.approx((math.log(2) + math.log(5 / 4)) / 2)


def test_trials_hand_computed_squared():
    # trial 1: f = (1, 3), trial 2: f = (2, 6), y = 0. Member centroids 1.5 and 4.5: bias =
    # (1.5² + 4.5²)/2 = 11.25; variance = (0.5² + 1.5²)/2 = 1.25; diversity = mean(1, 4) = 2.5;
    # expected ensemble loss = (2² + 4²)/2 = 10 = 11.25 + 1.25 − 2.5
    outputs = np.array([[1.0, 3.0], [2.0, 6.0]])[:, :, None, None]  # (S, M, N=1, K=1)
    terms = wood.decompose(outputs, np.array([0.0]), "squared")
    assert terms["bias"] == pytest.approx(11.25)
    assert terms["variance"] == pytest.approx(1.25)
    assert terms["diversity"] == pytest.approx(2.5)
    assert terms["expected_ensemble_loss"] == pytest.approx(10.0)
    np.testing.assert_allclose(terms["trial_diversity"], [1.0, 4.0])
    np.testing.assert_allclose(terms["trial_ensemble_loss"], [4.0, 16.0])


@st.composite
def trials(draw, loss):
    s, m, n = draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.integers(1, 12))
    k = draw(st.integers(2, 6)) if loss == "cross_entropy" else 1
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    outputs = draw(st.floats(0.1, 10.0)) * rng.normal(size=(s, m, n, k))
    y = rng.integers(0, k, n) if loss == "cross_entropy" else rng.normal(size=n)
    return outputs, y


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(wood.LOSSES).flatmap(lambda loss: st.tuples(st.just(loss), trials(loss))))
def test_terms_sum_to_the_expected_ensemble_loss(case):
    loss, (outputs, y) = case
    terms = wood.decompose(outputs, y, loss)
    assert terms["expected_ensemble_loss"] == pytest.approx(
        terms["bias"] + terms["variance"] - terms["diversity"], rel=1e-9, abs=1e-9
    )
    assert terms["expected_member_loss"] == pytest.approx(
        terms["bias"] + terms["variance"], rel=1e-9, abs=1e-9
    )
    assert terms["variance"] >= -1e-12 and terms["diversity"] >= -1e-12
    # each trial: ensemble loss = its mean member loss − its diversity
    for trial in range(outputs.shape[0]):
        one = wood.ambiguity(outputs[trial], y, loss)
        np.testing.assert_allclose(
            one["ensemble_loss"], one["member_loss"] - one["diversity"], atol=1e-9
        )
        assert one["ensemble_loss"].mean() == pytest.approx(
            terms["trial_ensemble_loss"][trial], rel=1e-12
        )
        assert one["diversity"].mean() == pytest.approx(terms["trial_diversity"][trial], rel=1e-12)


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(trials("cross_entropy"))
def test_geometric_combiner_is_score_averaging_and_diversity_is_the_papers_div(case):
    """softmax(z̄) is the normalised geometric mean of the softmaxes exactly (the logsumexp terms are
    constant per example), so under score averaging Wood's ensemble loss and diversity are the
    paper's L_ens and DIV per example, up to rounding."""
    outputs, y = case
    outputs = outputs[0]
    ensemble = wood.centroid(wood.dual(outputs, "cross_entropy"), 0, "cross_entropy")[0]
    np.testing.assert_allclose(
        np.exp(ensemble),
        objective.aggregate(torch.as_tensor(outputs), "score").softmax(-1).numpy(),
        rtol=1e-10,
        atol=1e-14,
    )
    terms = wood.ambiguity(outputs, y, "cross_entropy")
    l_ens, members = objective.per_sample_losses(
        torch.as_tensor(outputs), torch.as_tensor(y), "score"
    )
    np.testing.assert_allclose(terms["ensemble_loss"], l_ens.numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(
        terms["diversity"], (members.mean(0) - l_ens).numpy(), rtol=1e-9, atol=1e-9
    )


def test_squared_diversity_is_the_ambiguity():
    rng = np.random.default_rng(0)
    outputs, y = rng.normal(size=(4, 7, 1)), rng.normal(size=7)
    parts = objective.decomposition(torch.as_tensor(outputs), torch.as_tensor(y), "regression")
    assert wood.ambiguity(outputs, y, "squared")["diversity"].mean() == pytest.approx(
        parts["DIV"].item()
    )


def test_probability_averaging_is_not_the_geometric_combiner():
    """Under probability averaging the run's ensemble is the arithmetic mean, not the centroid: at
    y = 1, p̄_1 = (0.5 + 0.8)/2 = 0.65 but the geometric ensemble gives 2/3, and the paper's DIV and
    Wood's diversity differ."""
    outputs = logits_of(Q1, Q2)[:, None, :]
    y = np.array([1])
    l_ens, members = objective.per_sample_losses(
        torch.as_tensor(outputs), torch.as_tensor(y), "probability"
    )
    assert l_ens.item() == pytest.approx(-math.log(0.65))
    terms = wood.ambiguity(outputs, y, "cross_entropy")
    assert terms["ensemble_loss"][0] == pytest.approx(math.log(1.5))
    paper_div = (members.mean(0) - l_ens).item()
    assert paper_div != pytest.approx(terms["diversity"][0], rel=1e-3)


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match="unknown loss 'hinge'; allowed: cross_entropy, squared"):
        wood.dual(np.zeros((2, 3, 4)), "hinge")
    with pytest.raises(ValueError, match=r"outputs must be \(S, M, N, K\) with N = len\(y\) = 2"):
        wood.decompose(np.zeros((2, 3, 4)), np.zeros(2, int), "cross_entropy")
    with pytest.raises(ValueError, match=r"outputs must be \(M, N, K\) with N = len\(y\) = 5"):
        wood.ambiguity(np.zeros((2, 3, 4)), np.zeros(5, int), "cross_entropy")


def test_summed_logits_are_the_centroid_of_the_members_at_temperature_one_over_m():
    """softmax(Σ_j z_j) = normalised geometric mean of softmax(M z_j): with combined_outputs, Wood's
    ensemble loss is the run's L_ens and the diversity is the tempered Jensen gap (≥ 0), while
    the paper's DIV of the same run is negative here."""
    rng = np.random.default_rng(3)
    outputs = rng.normal(size=(4, 9, 3)) + np.array([0.0, 0.0, 2.0])  # learners favour class 2
    y = np.zeros(9, dtype=int)
    combined = wood.combined_outputs(outputs, "sum")
    np.testing.assert_allclose(combined, 4 * outputs)
    assert wood.combined_outputs(outputs, "score") is outputs
    terms = wood.ambiguity(combined, y, "cross_entropy")
    l_ens, members = objective.per_sample_losses(
        torch.as_tensor(outputs), torch.as_tensor(y), "sum"
    )
    np.testing.assert_allclose(terms["ensemble_loss"], l_ens.numpy(), rtol=1e-9)
    assert (terms["diversity"] >= 0).all()
    assert (members.mean(0) - l_ens).mean() < 0  # DIV_sum < 0: sharpening a wrong mean logit


def test_wood_table_and_figure_from_the_calibration_of_runs_on_independent_draws(tmp_path):
    """Three seeds of one setting on mnist1d_draws (one shared test set) at two β: the paper table
    has Wood's terms over the trials, equal to wood.decompose of the saved outputs, and the figure
    draws them."""
    from collusion import analysis, tables
    from collusion.figures import wood as wood_figure
    from test_calibration_table import write_run

    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 8)
    outputs = {(b, s): rng.normal(size=(2, 8, 3)) for b in (0, 1) for s in range(3)}
    dirs = [
        write_run(tmp_path, "score", b, s, o, y, dataset="mnist1d_draws")
        for (b, s), o in outputs.items()
    ]
    calibration = analysis.calibration_table(dirs, ["last"])
    table = tables.wood_decomposition(calibration)
    assert list(table.columns) == tables.WOOD_COLUMNS and len(table) == 2
    assert set(table["training_sets"]) == {"independent draws"} and set(table["trials"]) == {3}
    for row in table.itertuples():
        stacked = np.stack([outputs[(int(row.beta), s)].astype(np.float32) for s in range(3)])
        expected = wood.decompose(stacked, y, "cross_entropy")
        for key in ("bias", "variance", "diversity", "expected_ensemble_loss"):
            assert getattr(row, key) == pytest.approx(expected[key], rel=1e-6), key
        assert row.expected_ensemble_loss == pytest.approx(
            row.bias + row.variance - row.diversity, rel=1e-9
        )
    fig = wood_figure.draw({"wood": table})
    (ax,) = fig.axes
    assert len(ax.lines) == len(wood_figure.TERMS) and "3 trials" in ax.get_title()
    empty = wood_figure.draw({"wood": table.iloc[:0]}).axes[0].texts[0].get_text()
    assert "no wood et al. decomposition" in empty.lower() and "config/README.md" in empty
