"""Debiasing and learner dropout against hand computations and closed forms."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from collusion import diagnostics, objective

finite = st.floats(-10, 10, allow_nan=False, width=64)


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float64, st.tuples(st.integers(1, 6), st.integers(1, 12), st.just(1)), elements=finite
    ),
    st.integers(0, 2**32 - 1),
)
def test_debiasing_mse_removes_exactly_the_bias_energy(outputs, seed):
    y = np.random.default_rng(seed).normal(size=outputs.shape[1])
    debiased = diagnostics.debias(outputs)
    np.testing.assert_allclose(
        debiased.mean(axis=0), outputs.mean(axis=0), atol=1e-9
    )  # f̄ unchanged
    np.testing.assert_allclose(
        debiased.mean(axis=1),
        np.broadcast_to(outputs.mean(axis=(0, 1)), debiased.mean(axis=1).shape),
        atol=1e-9,
    )
    effect = diagnostics.debias_effect(outputs, y, "regression")
    assert effect["DIV"] - effect["DIV_debiased"] == pytest.approx(effect["bias_energy"], abs=1e-7)


def test_debiasing_hand_computed():
    # two learners, two samples: f1 = (3, 5), f2 = (1, 1); means 4 and 1, overall 2.5
    outputs = np.array([[[3.0], [5.0]], [[1.0], [1.0]]])
    np.testing.assert_allclose(diagnostics.member_biases(outputs), [[1.5], [-1.5]])
    y = np.zeros(2)
    effect = diagnostics.debias_effect(outputs, y, "regression")
    # DIV = mean_i Σ_j ½ (f_ij − f̄_i)² = mean(1, 4) = 2.5;
    # debiased learners (1.5, 3.5), (2.5, 2.5): DIV' = mean(.25, .25)
    assert effect["DIV"] == pytest.approx(2.5)
    assert effect["DIV_debiased"] == pytest.approx(0.25)
    assert effect["DIV_decrease_pct"] == pytest.approx(90.0)
    assert effect["bias_energy"] == pytest.approx(2.25)


def test_debiasing_is_not_defined_for_probability_averaging():
    outputs = np.random.default_rng(0).normal(size=(3, 5, 4))
    assert np.isnan(diagnostics.debias_effect(outputs, np.zeros(5, int), "probability")["DIV"])
    assert not np.isnan(diagnostics.debias_effect(outputs, np.zeros(5, int), "score")["DIV"])


def test_debiasing_summed_logits_keeps_the_ensemble_and_its_loss():
    """Σ_j bias_j = 0: the summed logits, hence L_ens, are unchanged; only L_ind (and DIV) move."""
    from collusion import objective

    rng = np.random.default_rng(1)
    outputs, y = 2 * rng.normal(size=(4, 9, 3)) + rng.normal(size=(4, 1, 3)), rng.integers(0, 3, 9)
    np.testing.assert_allclose(diagnostics.debias(outputs).sum(axis=0), outputs.sum(axis=0))
    effect = diagnostics.debias_effect(outputs, y, "sum")
    before = diagnostics._decompose(outputs, y, "sum")
    after = diagnostics._decompose(diagnostics.debias(outputs), y, "sum")
    assert after["L_ens"] == pytest.approx(before["L_ens"], rel=1e-12)
    assert effect["DIV"] == before["DIV"] and effect["DIV_debiased"] == after["DIV"]
    assert "sum" in objective.DEBIASABLE


def constant_learners(m, n=7):
    """Learner j predicts the constant j: a sub-ensemble's error reveals which learners it kept."""
    return np.repeat(np.arange(m, dtype=float)[:, None, None], n, axis=1), np.zeros(n)


def test_learner_dropout_enumerates_every_subset_when_they_are_few():
    # keep 3 of 5: C(5, 3) = 10 subsets ≤ 200 requested, so each is evaluated exactly once
    outputs, y = constant_learners(5)
    errors, exact = diagnostics.learner_dropout(
        outputs, y, "regression", 0.4, 200, np.random.default_rng(0)
    )
    expected = sorted(np.mean(s) ** 2 for s in itertools.combinations(range(5), 3))
    assert exact and len(errors) == 10
    np.testing.assert_allclose(sorted(errors), expected)


def test_learner_dropout_samples_distinct_subsets_when_there_are_many():
    # keep 5 of 10: C(10, 5) = 252 > 20 requested → 20 distinct subsets (sampled without repetition)
    outputs, y = constant_learners(10)
    rng = np.random.default_rng(0)
    keep_sets, exact = diagnostics.kept_subsets(10, 5, 20, rng)
    assert not exact and len(set(keep_sets)) == 20 and all(len(k) == 5 for k in keep_sets)
    errors, exact = diagnostics.learner_dropout(
        outputs, y, "regression", 0.5, 20, np.random.default_rng(0)
    )
    assert not exact and len(errors) == 20
    possible = {round(np.mean(s) ** 2, 9) for s in itertools.combinations(range(10), 5)}
    assert {round(e, 9) for e in errors} <= possible


@pytest.mark.parametrize(
    ("members", "fraction", "dropped"),
    [
        (5, 0.2, 1),
        (5, 0.4, 2),
        (5, 0.6, 3),  # the paper's fractions at M = 5
        (3, 0.2, 0),
        (3, 0.4, 1),
        (3, 0.6, 1),  # floor, as the authors: kept 3 (skipped), 2, 2
        (2, 0.2, 0),
        (2, 0.6, 1),
        (10, 0.6, 6),
        (10, 0.2, 2),
        (100, 0.29, 29),  # 0.29·100 = 28.999…96
    ],
)
def test_dropped_learners_is_the_floor(members, fraction, dropped):
    assert diagnostics.dropped_learners(members, fraction) == dropped


def test_a_fraction_that_drops_nobody_is_refused():
    outputs, y = constant_learners(2)
    with pytest.raises(ValueError, match="drops none"):
        diagnostics.learner_dropout(outputs, y, "regression", 0.2, 10, np.random.default_rng(0))


def test_full_ensemble_error_is_the_mse_of_the_mean():
    outputs = np.random.default_rng(1).normal(size=(4, 9, 1))
    y = np.random.default_rng(2).normal(size=9)
    full = diagnostics.ensemble_error(outputs, y, "regression")
    assert full == pytest.approx(((outputs.mean(axis=0)[:, 0] - y) ** 2).mean())


def test_authors_broadcast_statistic_averages_over_all_pairs():
    outputs = np.array([[[1.0], [2.0], [4.0]]])  # one learner, predictions 1, 2, 4
    y = np.array([0.0, 1.0, 3.0])
    per_sample = diagnostics.ensemble_error(outputs, y, "regression")
    broadcast = diagnostics.ensemble_error(outputs, y, "regression", authors_broadcast=True)
    assert per_sample == pytest.approx(1.0)
    pairs = [(p - t) ** 2 for p in (1, 2, 4) for t in (0, 1, 3)]
    assert broadcast == pytest.approx(np.mean(pairs))


def test_classification_error_rate():
    logits = np.array([[[2.0, 0.0], [0.0, 2.0]], [[2.0, 0.0], [2.0, 0.0]]])  # (M=2, N=2, K=2)
    y = np.array([0, 1])
    # score averaging: sample 0 → class 0 (right), sample 1 → mean (1, 1): tie → argmax 0 (wrong)
    assert diagnostics.ensemble_error(logits, y, "score") == pytest.approx(0.5)


def test_learner_dropout_table_skips_a_fraction_that_drops_nobody(tmp_path):
    from collusion import analysis

    run_dir = tmp_path / "runs" / "e" / "diabetes" / "mlp" / "regression" / "M2" / "beta1" / "seed0"
    run_dir.mkdir(parents=True)
    outputs, y = constant_learners(2)
    np.savez(run_dir / "predictions.npz", last_test=outputs, y_test=y)
    table = analysis.learner_dropout_table([str(run_dir)], ["last"], [0.2, 0.6], subsets=100)
    # M = 2: 0.2 drops floor(0.4) = 0 learners (no row); 0.6 drops 1, and both singletons are all there are
    assert table["fraction"].tolist() == [0.6]
    row = table.iloc[0]
    assert row["dropped"] == 1 and row["subsets"] == 2 and row["all_subsets"]
    full = 0.5**2
    assert row["increase"] == pytest.approx((0**2 + 1**2) / 2 - full)


def saturated_learners() -> tuple[np.ndarray, np.ndarray]:
    """Three learners' float32 logits (as predictions.npz stores them) for one example of class 1:
    learner 0 says class 0 by a logit margin of 20, learners 1 and 2 say class 1 by 30. Each
    softmax is 1.0 in float32 (1 − 4e-9 and 1 − 2e-13 round to 1), so a float32 average of any two
    of them ties at 0.5 and argmax takes class 0; in float64 class 1 wins by 3e-9."""
    logits = np.zeros((3, 1, 3), dtype=np.float32)
    logits[0, 0, 0] = 20.0
    logits[1:, 0, 1] = 30.0
    return logits, np.array([1])


def test_saturated_probabilities_are_averaged_in_float64():
    logits, y = saturated_learners()
    pair = logits[:2]
    assert diagnostics.ensemble_error(pair, y, "probability") == 0.0
    errors, exact = diagnostics.learner_dropout(
        logits, y, "probability", 0.4, 100, np.random.default_rng(0)
    )
    assert exact and errors.tolist() == [0.0, 0.0, 0.0]  # {0, 1}, {0, 2}, {1, 2}: all class 1


def reference_error(outputs, y, aggregation, authors_broadcast):
    """One sub-ensemble's error from the definitions (objective.predictions; the MSE of the mean)."""
    outputs = outputs.astype(np.float64)
    if aggregation == "regression":
        prediction = outputs.mean(axis=0)  # (N, 1)
        return float(((prediction - y if authors_broadcast else prediction[:, 0] - y) ** 2).mean())
    predicted, _ = objective.predictions(torch.as_tensor(outputs), aggregation)
    return float((predicted.numpy() != y).mean())


@pytest.mark.parametrize(
    ("aggregation", "authors_broadcast"),
    [("score", False), ("probability", False), ("sum", False)]
    + [("regression", False), ("regression", True)],
)
def test_subset_errors_are_each_sub_ensembles_error_in_any_chunking(
    aggregation, authors_broadcast, monkeypatch
):
    # many sub-ensembles at once give exactly (bit for bit) each sub-ensemble's own error, whether
    # the subsets go one per chunk or all in one
    rng = np.random.default_rng(3)
    classes = 1 if aggregation == "regression" else 4
    outputs = (rng.normal(size=(7, 30, classes)) * 3).astype(np.float32)
    y = rng.normal(size=30) if aggregation == "regression" else rng.integers(0, classes, size=30)
    keep_sets = list(itertools.combinations(range(7), 4))
    expected = [
        reference_error(outputs[list(keep)], y, aggregation, authors_broadcast)
        for keep in keep_sets
    ]
    for chunk in (1, 2**20):
        monkeypatch.setattr(diagnostics, "SUBSET_CHUNK", chunk)
        errors = diagnostics.subset_errors(outputs, y, aggregation, keep_sets, authors_broadcast)
        assert errors.tolist() == expected
