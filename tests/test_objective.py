"""The paper's math (docs/paper.md#the-method) against closed forms, hand computations and autograd."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from collusion import objective
from collusion.objective import AGGREGATIONS

CLASSIFICATION = ("score", "probability", "probability_double_softmax", "sum")
# DIV = L_ind − L_ens is a Jensen gap (≥ 0) for every aggregation but summed logits
JENSEN = tuple(a for a in AGGREGATIONS if a != "sum")
PROPERTY = settings(max_examples=50, deadline=None)


# -- strategies ------------------------------------------------------------------------------------
@st.composite
def problems(draw, aggregation: str, min_members: int = 1, bound: float = 8.0):
    """Random float64 outputs (M, N, K) and matching targets for one aggregation."""
    m = draw(st.integers(min_members, 8))
    n = draw(st.integers(1, 16))
    k = 1 if aggregation == "regression" else draw(st.integers(2, 6))
    values = st.floats(-bound, bound, allow_nan=False, allow_infinity=False)
    # hypothesis' arrays are sparse (a fill value and some drawn entries: ties, zeros, bounds);
    # dense cases add seeded Gaussian noise so every entry differs
    outputs = torch.from_numpy(draw(hnp.arrays(np.float64, (m, n, k), elements=values)))
    if draw(st.booleans()):
        noise = torch.Generator().manual_seed(draw(st.integers(0, 2**32 - 1)))
        scale = draw(st.floats(0.1, bound))
        outputs = outputs + scale * torch.randn(m, n, k, dtype=torch.float64, generator=noise)
    if aggregation == "regression":
        y = torch.from_numpy(draw(hnp.arrays(np.float64, (n,), elements=values)))
    else:
        y = torch.from_numpy(draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, k - 1))))
    return outputs, y


def any_problem(min_members: int = 1, aggregations=AGGREGATIONS):
    return st.sampled_from(aggregations).flatmap(
        lambda a: st.tuples(st.just(a), problems(a, min_members))
    )


betas = st.floats(0.0, 5.0, allow_nan=False)


# -- L_β, L_ind, L_ens, DIV ------------------------------------------------------------------------
@PROPERTY
@given(any_problem())
def test_beta_zero_is_mean_individual_loss_and_beta_one_is_ensemble_loss(case):
    aggregation, (outputs, y) = case
    ensemble, members = objective.per_sample_losses(outputs, y, aggregation)
    assert ensemble.shape == (outputs.shape[1],)
    assert members.shape == outputs.shape[:2]
    mean_individual = members.mean(dim=1).mean()  # Σ_j w_j (sample mean of learner j's loss)
    torch.testing.assert_close(
        objective.beta_objective(outputs, y, aggregation, 0.0), mean_individual
    )
    torch.testing.assert_close(
        objective.beta_objective(outputs, y, aggregation, 1.0), ensemble.mean()
    )


@PROPERTY
@given(any_problem(), betas)
def test_beta_objective_is_l_ind_minus_beta_div_and_linear_in_beta(case, beta):
    aggregation, (outputs, y) = case
    parts = objective.decomposition(outputs, y, aggregation)
    torch.testing.assert_close(parts["DIV"], parts["L_ind"] - parts["L_ens"])
    value = objective.beta_objective(outputs, y, aggregation, beta)
    torch.testing.assert_close(value, parts["L_ind"] - beta * parts["DIV"])
    l0 = objective.beta_objective(outputs, y, aggregation, 0.0)
    l1 = objective.beta_objective(outputs, y, aggregation, 1.0)
    torch.testing.assert_close(value, l0 + beta * (l1 - l0))  # affine in β


@PROPERTY
@given(any_problem(aggregations=JENSEN))
def test_diversity_is_nonnegative_per_sample(case):
    """Jensen: each aggregation's loss is convex in the quantity that is averaged."""
    aggregation, (outputs, y) = case
    ensemble, members = objective.per_sample_losses(outputs, y, aggregation)
    div = members.mean(dim=0) - ensemble
    assert (div >= -1e-10 * (1 + members.abs().max())).all(), div.min()
    assert objective.decomposition(outputs, y, aggregation)["DIV"] >= -1e-10


@PROPERTY
@given(problems("regression"))
def test_regression_diversity_is_the_ambiguity(case):
    outputs, y = case
    f = outputs.squeeze(-1)
    spread = ((f - f.mean(dim=0)) ** 2).mean(dim=0)  # Σ_j w_j (f_j − f̄)², per sample
    ensemble, members = objective.per_sample_losses(outputs, y, "regression")
    torch.testing.assert_close(members.mean(dim=0) - ensemble, spread, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(
        objective.decomposition(outputs, y, "regression")["DIV"],
        spread.mean(),
        rtol=1e-9,
        atol=1e-9,
    )


@PROPERTY
@given(st.sampled_from(CLASSIFICATION).flatmap(lambda a: st.tuples(st.just(a), problems(a))))
def test_classification_losses_match_naive_float64_formulas(case):
    aggregation, (outputs, y) = case
    probs = outputs.softmax(-1)
    rows = torch.arange(len(y))
    if aggregation == "score":
        members = -probs[:, rows, y].log()
        ensemble = -outputs.mean(0).softmax(-1)[rows, y].log()
    elif aggregation == "probability":
        members = -probs[:, rows, y].log()
        ensemble = -probs.mean(0)[rows, y].log()
    elif aggregation == "sum":
        members = -probs[:, rows, y].log()
        ensemble = -outputs.sum(0).softmax(-1)[rows, y].log()
    else:  # the authors' defect: probabilities are fed to cross-entropy as logits
        members = -probs.softmax(-1)[:, rows, y].log()
        ensemble = -probs.mean(0).softmax(-1)[rows, y].log()
    got_ensemble, got_members = objective.per_sample_losses(outputs, y, aggregation)
    torch.testing.assert_close(got_ensemble, ensemble)
    torch.testing.assert_close(got_members, members)


def test_probability_aggregation_is_stable_for_extreme_logits():
    outputs = torch.tensor([[[300.0, -300.0]], [[-300.0, 300.0]]])  # float32; p_{2,0} underflows
    ensemble, members = objective.per_sample_losses(outputs, torch.tensor([0]), "probability")
    torch.testing.assert_close(ensemble, torch.tensor([math.log(2.0)]))
    torch.testing.assert_close(members, torch.tensor([[0.0], [600.0]]))


# -- hand-computed case: M = 2, N = 1, K = 2, z_1 = (1, 0), z_2 = (0, 2), y = 0 --------------------
HAND_OUTPUTS = torch.tensor([[[1.0, 0.0]], [[0.0, 2.0]]], dtype=torch.float64)
HAND_Y = torch.tensor([0])


def test_hand_computed_score_averaging():
    member1 = math.log(math.exp(1) + math.exp(0)) - 1  # −log softmax(1, 0)_0
    member2 = math.log(math.exp(0) + math.exp(2)) - 0  # −log softmax(0, 2)_0
    ensemble = math.log(math.exp(0.5) + math.exp(1.0)) - 0.5  # f̄ = (0.5, 1)
    l_ind = (member1 + member2) / 2
    parts = objective.decomposition(HAND_OUTPUTS, HAND_Y, "score")
    assert parts["L_ens"].item() == pytest.approx(ensemble, rel=1e-12)
    assert parts["L_ind"].item() == pytest.approx(l_ind, rel=1e-12)
    assert parts["DIV"].item() == pytest.approx(l_ind - ensemble, rel=1e-12)
    assert parts["DIV"].item() == pytest.approx(
        0.24602, abs=1e-5
    )  # (0.31326 + 2.12693)/2 − 0.97408
    value = objective.beta_objective(HAND_OUTPUTS, HAND_Y, "score", 0.3)
    assert value.item() == pytest.approx(0.7 * l_ind + 0.3 * ensemble, rel=1e-12)


def test_hand_computed_probability_averaging():
    p1 = math.exp(1) / (math.exp(1) + 1)  # member 1's probability of class 0
    p2 = 1 / (1 + math.exp(2))
    ensemble = -math.log((p1 + p2) / 2)
    l_ind = (-math.log(p1) - math.log(p2)) / 2
    parts = objective.decomposition(HAND_OUTPUTS, HAND_Y, "probability")
    assert parts["L_ens"].item() == pytest.approx(ensemble, rel=1e-12)
    assert parts["L_ind"].item() == pytest.approx(l_ind, rel=1e-12)
    assert parts["DIV"].item() == pytest.approx(0.36474, abs=1e-5)  # 1.22009 − 0.85536

    # the authors' double softmax: p̄ = ((p1+p2)/2, 1 − (p1+p2)/2) enters cross-entropy as logits
    def ce_of_probs(q0):
        return math.log(math.exp(q0) + math.exp(1 - q0)) - q0

    parts = objective.decomposition(HAND_OUTPUTS, HAND_Y, "probability_double_softmax")
    assert parts["L_ens"].item() == pytest.approx(ce_of_probs((p1 + p2) / 2), rel=1e-12)
    assert parts["L_ind"].item() == pytest.approx(
        (ce_of_probs(p1) + ce_of_probs(p2)) / 2, rel=1e-12
    )


def test_hand_computed_regression():
    outputs = torch.tensor([[[1.0]], [[3.0]]], dtype=torch.float64)  # f̄ = 2, y = 0
    parts = objective.decomposition(outputs, torch.tensor([0.0], dtype=torch.float64), "regression")
    assert parts["L_ens"].item() == pytest.approx(4.0)
    assert parts["L_ind"].item() == pytest.approx((1.0 + 9.0) / 2)
    assert parts["DIV"].item() == pytest.approx(((1 - 2) ** 2 + (3 - 2) ** 2) / 2)


# -- summed logits: DIV is no Jensen gap --------------------------------------------------------------
def test_hand_computed_summed_logits():
    """The hand case above, summed: s = (1, 2). L_ind is score averaging's (the learners' own
    losses); L_ens = −log softmax(1, 2)_0 = log(1 + e) exceeds it, so DIV < 0."""
    member1 = math.log(math.exp(1) + 1) - 1
    member2 = math.log(1 + math.exp(2))
    ensemble = math.log(1 + math.e)
    parts = objective.decomposition(HAND_OUTPUTS, HAND_Y, "sum")
    assert parts["L_ens"].item() == pytest.approx(ensemble, rel=1e-12)
    assert parts["L_ind"].item() == pytest.approx((member1 + member2) / 2, rel=1e-12)
    assert parts["DIV"].item() == pytest.approx(-0.09317, abs=1e-5)  # 1.22010 − 1.31326
    # = score's DIV 0.24602 + sharpening S = CE((.5, 1)) − CE((1, 2)) = 0.97408 − 1.31326
    score_div = objective.decomposition(HAND_OUTPUTS, HAND_Y, "score")["DIV"].item()
    assert parts["DIV"].item() == pytest.approx(score_div + 0.97408 - 1.31326, abs=1e-5)


def test_summed_logits_of_identical_learners_that_miss_y_have_negative_diversity():
    # three copies of z = (0, 1), y = 0: L_ind = log(1 + e), L_ens = CE((0, 3)) = log(1 + e³)
    outputs = torch.tensor([[[0.0, 1.0]]] * 3, dtype=torch.float64)
    parts = objective.decomposition(outputs, torch.tensor([0]), "sum")
    assert parts["L_ind"].item() == pytest.approx(math.log(1 + math.e))
    assert parts["L_ens"].item() == pytest.approx(math.log(1 + math.exp(3)))
    assert parts["DIV"].item() < -1.7
    assert objective.decomposition(outputs, torch.tensor([0]), "score")["DIV"].item() == 0.0


@PROPERTY
@given(problems("sum"))
def test_summed_logit_diversity_is_score_diversity_plus_sharpening(problem):
    """Per sample DIV_sum = DIV_score + S, S = CE(z̄, y) − CE(M z̄, y); S ≥ 0 where y is a top class
    of z̄ (CE(t z̄, y) does not rise with t there)."""
    outputs, y = problem
    m = outputs.shape[0]
    ens_sum, members = objective.per_sample_losses(outputs, y, "sum")
    ens_score, members_score = objective.per_sample_losses(outputs, y, "score")
    assert torch.equal(members, members_score)
    mean_logits = outputs.mean(0, keepdim=True)
    sharpened, _ = objective.per_sample_losses(m * mean_logits, y, "score")
    torch.testing.assert_close(ens_sum, sharpened)  # Σ_j z_j = M z̄
    sharpening = ens_score - sharpened
    torch.testing.assert_close(
        members.mean(0) - ens_sum, (members.mean(0) - ens_score) + sharpening
    )
    top = mean_logits[0].gather(-1, y.unsqueeze(-1)).squeeze(-1) >= mean_logits[0].max(-1).values
    assert (sharpening[top] >= -1e-10 * (1 + ens_score[top].abs())).all()


@PROPERTY
@given(problems("sum"))
def test_summed_logits_satisfy_jensen_for_the_learners_at_temperature_one_over_m(problem):
    """L_ens = CE(mean_j M z_j, y) ≤ Σ_j w_j CE(M z_j, y): score averaging of the logits M z_j."""
    outputs, y = problem
    m = outputs.shape[0]
    ens_sum, _ = objective.per_sample_losses(outputs, y, "sum")
    ens_tempered, members_tempered = objective.per_sample_losses(m * outputs, y, "score")
    torch.testing.assert_close(ens_sum, ens_tempered)
    assert (members_tempered.mean(0) - ens_sum >= -1e-10 * (1 + members_tempered.abs().max())).all()


@PROPERTY
@given(problems("sum"))
def test_summed_logits_at_beta_zero_train_what_score_averaging_trains(problem):
    """β = 0 is the learners' own losses under both; the ensembles predict the same class (the
    argmax of Σ_j z_j is that of z̄), they differ in confidence only."""
    outputs, y = problem
    assert torch.equal(
        objective.beta_objective(outputs, y, "sum", 0.0),
        objective.beta_objective(outputs, y, "score", 0.0),
    )
    summed, mean = objective.aggregate(outputs, "sum"), objective.aggregate(outputs, "score")
    torch.testing.assert_close(summed, outputs.shape[0] * mean)
    clear = (summed.topk(min(2, summed.shape[-1])).values.diff(dim=-1).abs() > 1e-9).all(-1)
    assert torch.equal(
        objective.predictions(outputs, "sum")[0][clear],
        objective.predictions(outputs, "score")[0][clear],
    )


# -- gradients -------------------------------------------------------------------------------------
# The module takes means over samples:
#   L_β = (1−β)·(1/(MN)) Σ_{j,i} ℓ(z_ij) + β·(1/N) Σ_i ℓ_ens(z_·i).
# So N·L_β is the sum over samples of the per-sample objective with L_ind weighted by w_j = 1/M, and
# its gradient w.r.t. learner j's logits z_ij on sample i is
#   independent (β=0):          (1/M)(p_ij − e_yi)            (docs/paper.md#gradients: p_j − e_y, times w_j)
#   score averaging, joint:     (1/M)(p̄_i − e_yi)              (the same for every learner)
#   probability averaging, joint: r_ij (p_ij − e_yi), r_ij = w_j p_ij,y / p̄_i,y   (Σ_j r_ij = 1:
#                               w_j is already inside r_j, no extra 1/M)
#   summed logits, joint:       q_i − e_yi, q_i = softmax(Σ_l z_il)   (the same for every learner,
#                               no 1/M: the ensemble term is not an average)
#   regression: 2 w_j (f_ij − y_i) independent, 2 w_j (f̄_i − y_i) joint.
# and at any β the gradient is (1−β)·independent + β·joint.
def scaled_gradient(outputs, y, aggregation, beta):
    outputs = outputs.clone().requires_grad_(True)
    (objective.beta_objective(outputs, y, aggregation, beta) * outputs.shape[1]).backward()
    return outputs.grad


def formula_gradients(outputs, y, aggregation):
    m, n, k = outputs.shape
    if aggregation == "regression":
        f = outputs.squeeze(-1)
        return (2 / m * (f - y)).unsqueeze(-1), (2 / m * (f.mean(0) - y)).expand(m, n).unsqueeze(-1)
    onehot = torch.nn.functional.one_hot(y, k).to(outputs.dtype)
    p = outputs.softmax(-1)
    independent = (p - onehot) / m
    if aggregation == "score":
        p_bar = outputs.mean(0).softmax(-1)
        return independent, ((p_bar - onehot) / m).expand(m, n, k)
    if aggregation == "sum":
        q = outputs.sum(0).softmax(-1)
        return independent, (q - onehot).expand(m, n, k)
    p_y = p[:, torch.arange(n), y]  # (M, N)
    r = (p_y / m) / p_y.mean(0)
    torch.testing.assert_close(r.sum(0), torch.ones(n, dtype=outputs.dtype))
    return independent, r.unsqueeze(-1) * (p - onehot)


@PROPERTY
@given(
    st.sampled_from(("score", "probability", "sum", "regression")).flatmap(
        lambda a: st.tuples(st.just(a), problems(a))
    ),
    betas,
)
def test_gradients_match_paper_formulas(case, beta):
    aggregation, (outputs, y) = case
    independent, joint = formula_gradients(outputs, y, aggregation)
    torch.testing.assert_close(scaled_gradient(outputs, y, aggregation, 0.0), independent)
    torch.testing.assert_close(scaled_gradient(outputs, y, aggregation, 1.0), joint)
    torch.testing.assert_close(
        scaled_gradient(outputs, y, aggregation, beta), (1 - beta) * independent + beta * joint
    )


@pytest.mark.parametrize("aggregation", ["score", "sum"])
def test_joint_gradient_on_the_logits_is_identical_for_every_learner(aggregation):
    outputs = torch.randn(4, 6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    grad = scaled_gradient(outputs, torch.tensor([0, 1, 2, 0, 1, 2]), aggregation, 1.0)
    for j in range(1, 4):
        torch.testing.assert_close(grad[j], grad[0])


# -- β > 1: learner collusion ----------------------------------------------------------------------
T_GRID = torch.tensor(
    [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 1e3, 1e4, 1e6], dtype=torch.float64
)


def offset(outputs, v, t):
    """f_1 + t·v, f_2 − t·v; the other learners, hence f̄ (mean or summed logits, or values),
    unchanged."""
    moved = outputs.clone()
    moved[0] += t * v
    moved[1] -= t * v
    return moved


@st.composite
def collusion_cases(draw, aggregation):
    """Outputs where learners 1 and 2 agree (so DIV is smallest at t = 0) and a direction v whose
    entries are not all equal (a constant shift of logits changes no probability)."""
    outputs, y = draw(problems(aggregation, min_members=2))
    outputs[1] = outputs[0]
    k = outputs.shape[-1]
    v = torch.from_numpy(draw(hnp.arrays(np.float64, (k,), elements=st.floats(-2, 2))))
    if aggregation == "regression":
        v = v + torch.where(v >= 0, 0.5, -0.5)  # |v| ≥ 0.5
    else:
        v = v - v.mean()
        v[0] += 1.0 if (v.abs() < 1e-3).all() else 0.0
        v = v / v.abs().max()
    v = v.expand(outputs.shape[1], k)  # one direction, every sample
    return outputs, y, v, draw(st.floats(1.25, 4.0))


@pytest.mark.parametrize("aggregation", ["score", "sum", "regression"])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_beta_above_one_is_unbounded_below_under_offsetting_moves(aggregation, data):
    outputs, y, v, beta = data.draw(collusion_cases(aggregation))
    l_ens = torch.stack(
        [objective.decomposition(offset(outputs, v, t), y, aggregation)["L_ens"] for t in T_GRID]
    )
    torch.testing.assert_close(l_ens, l_ens[0].expand_as(l_ens), rtol=1e-9, atol=1e-9)
    l_beta = torch.stack(
        [objective.beta_objective(offset(outputs, v, t), y, aggregation, beta) for t in T_GRID]
    )
    assert (l_beta.diff() < 0).all(), l_beta  # strictly decreasing in t
    # and unbounded: DIV grows like t·(max v − min v)/M ≥ t/8 (score) or 2t²v²/M (regression), so
    # L_β = L_ens − (β − 1)·DIV falls below any −C; here C = 1000 at t = 1e6
    assert l_beta[-1] < -1000.0
    # at β = 1 the same move is free: L_1 = L_ens does not change (collusion costs nothing)
    l_one = torch.stack(
        [objective.beta_objective(offset(outputs, v, t), y, aggregation, 1.0) for t in T_GRID]
    )
    torch.testing.assert_close(l_one, l_one[0].expand_as(l_one), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("aggregation", ["score", "sum", "regression"])
def test_beta_above_one_diverges_from_any_start(aggregation):
    """Learners that disagree at t = 0 too: L_β(t) still falls below −C for large t."""
    g = torch.Generator().manual_seed(1)
    k = 1 if aggregation == "regression" else 4
    outputs = torch.randn(3, 5, k, dtype=torch.float64, generator=g)
    y = (
        torch.randn(5, dtype=torch.float64, generator=g)
        if k == 1
        else torch.tensor([0, 1, 2, 3, 0])
    )
    v = (
        torch.ones(5, 1, dtype=torch.float64)
        if k == 1
        else torch.tensor([1.0, -1.0, 0.0, 0.0]).expand(5, 4)
    )
    for big_c in (1e2, 1e4, 1e6):
        t = big_c if k == 1 else 10 * big_c  # DIV grows like t² (regression) or |t| (score)
        assert objective.beta_objective(offset(outputs, v, t), y, aggregation, 1.5) < -big_c


# -- B ensembles at once (a pack of β) -------------------------------------------------------------
PACK_BETAS = [0.0, 0.25, 0.3, 0.5, 0.75, 1.0, 1.5]


def pack_problem(aggregation, n, seed=0):
    """float32 (B, M, N, K) outputs, as in training, spread enough for every loss to matter."""
    generator = torch.Generator().manual_seed(seed)
    k = 1 if aggregation == "regression" else 10
    outputs = 3 * torch.randn(len(PACK_BETAS), 5, n, k, generator=generator)
    if aggregation == "regression":
        return outputs, torch.randn(n, generator=generator)
    return outputs, torch.randint(0, k, (n,), generator=generator)


@pytest.mark.parametrize("n", [1, 32, 250, 1000])
@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_beta_objectives_of_a_pack_are_each_ensembles_beta_objective_exactly(aggregation, n):
    outputs, y = pack_problem(aggregation, n)
    outputs.requires_grad_(True)
    packed = objective.beta_objectives(outputs, y, aggregation, PACK_BETAS)
    packed.sum().backward()
    packed_grad, outputs.grad = outputs.grad, None
    alone = torch.stack(
        [
            objective.beta_objective(outputs[b], y, aggregation, beta)
            for b, beta in enumerate(PACK_BETAS)
        ]
    )
    alone.sum().backward()
    assert packed.shape == (len(PACK_BETAS),)
    assert torch.equal(packed, alone)  # bit for bit: a pack trains each β as it trains alone
    assert torch.equal(packed_grad, outputs.grad)
    # and ensemble b's value does not depend on which others share the pack
    assert torch.equal(
        objective.beta_objectives(outputs[2:3], y, aggregation, PACK_BETAS[2:3]), packed[2:3]
    )


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_losses_and_predictions_of_a_pack_are_each_ensembles(aggregation):
    outputs, y = pack_problem(aggregation, 64, seed=1)
    ensemble, members = objective.per_sample_losses(outputs, y, aggregation)
    assert ensemble.shape == (len(PACK_BETAS), 64) and members.shape == (len(PACK_BETAS), 5, 64)
    for b in range(len(PACK_BETAS)):
        one_ensemble, one_members = objective.per_sample_losses(outputs[b], y, aggregation)
        assert torch.equal(ensemble[b], one_ensemble) and torch.equal(members[b], one_members)
        assert torch.equal(
            objective.aggregate(outputs, aggregation)[b],
            objective.aggregate(outputs[b], aggregation),
        )
        if aggregation != "regression":
            for got, expected in zip(
                objective.predictions(outputs, aggregation),
                objective.predictions(outputs[b], aggregation),
            ):
                assert torch.equal(got[b], expected)


def test_beta_objectives_bad_beta_raises():
    outputs, y = pack_problem("score", 4)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        objective.beta_objectives(outputs[:2], y, "score", [0.5, -1.0])


# -- predictions, shapes and bad input -------------------------------------------------------------
@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_aggregate_and_prediction_shapes(aggregation):
    m, n = 3, 7
    k = 1 if aggregation == "regression" else 4
    outputs = torch.randn(m, n, k, generator=torch.Generator().manual_seed(2))
    aggregated = objective.aggregate(outputs, aggregation)
    assert aggregated.shape == (n, k)
    if aggregation in ("probability", "probability_double_softmax"):
        torch.testing.assert_close(aggregated.sum(-1), torch.ones(n))
        torch.testing.assert_close(aggregated, outputs.softmax(-1).mean(0))
    elif aggregation == "sum":
        torch.testing.assert_close(aggregated, outputs.sum(0))
    else:
        torch.testing.assert_close(aggregated, outputs.mean(0))
    if objective.is_classification(aggregation):
        ensemble_pred, member_pred = objective.predictions(outputs, aggregation)
        assert ensemble_pred.shape == (n,) and member_pred.shape == (m, n)
        assert torch.equal(ensemble_pred, aggregated.argmax(-1))
        assert torch.equal(member_pred, outputs.argmax(-1))


def test_predictions_differ_between_score_and_probability_averaging():
    # z_1 = (0, 10), z_2 = z_3 = (3, 0): mean logits (2, 3.33) pick class 1, while the mean
    # probability of class 0 is (1/(1+e^10) + 2·e^3/(1+e^3))/3 ≈ 0.635 and picks class 0
    outputs = torch.tensor([[[0.0, 10.0]], [[3.0, 0.0]], [[3.0, 0.0]]])
    assert objective.predictions(outputs, "score")[0].item() == 1
    assert objective.predictions(outputs, "probability")[0].item() == 0


def test_unknown_aggregation_names_the_allowed_values():
    outputs, y = torch.zeros(2, 3, 2), torch.zeros(3, dtype=torch.long)
    calls = [
        lambda: objective.aggregate(outputs, "mean"),
        lambda: objective.per_sample_losses(outputs, y, "mean"),
        lambda: objective.decomposition(outputs, y, "mean"),
        lambda: objective.beta_objective(outputs, y, "mean", 0.5),
        lambda: objective.predictions(outputs, "mean"),
        lambda: objective.is_classification("mean"),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="unknown aggregation 'mean'") as error:
            call()
        for allowed in AGGREGATIONS:
            assert allowed in str(error.value)


@pytest.mark.parametrize("beta", [-0.1, -1e-9, float("nan"), float("-inf")])
def test_bad_beta_raises(beta):
    outputs, y = torch.zeros(2, 3, 2), torch.zeros(3, dtype=torch.long)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        objective.beta_objective(outputs, y, "score", beta)


# -- mitigations: learner dropout, debiasing penalty, β warm-up ------------------------------------
@PROPERTY
@given(any_problem(), betas)
def test_learner_dropout_at_rate_zero_is_the_beta_objective_exactly(case, beta):
    aggregation, (outputs, y) = case
    keep = objective.learner_dropout_mask(outputs.shape[0], 0.0, torch.Generator().manual_seed(0))
    assert keep.all()
    assert torch.equal(
        objective.learner_dropout_objective(outputs, y, aggregation, beta, keep),
        objective.beta_objective(outputs, y, aggregation, beta),
    )


def test_learner_dropout_with_a_fixed_mask_hand_computed_regression():
    # f1 = (1, 2), f2 = (3, 0), f3 = (8, 4), y = (0, 1); learner 3 dropped: f̄_S = (2, 1)
    outputs = torch.tensor([[[1.0], [2.0]], [[3.0], [0.0]], [[8.0], [4.0]]], dtype=torch.float64)
    y = torch.tensor([0.0, 1.0], dtype=torch.float64)
    keep = torch.tensor([True, True, False])
    l_ind = (1 + 1 + 9 + 1 + 64 + 9) / 6  # every learner keeps its own loss
    l_ens_kept = ((2 - 0) ** 2 + (1 - 1) ** 2) / 2
    for beta in (0.0, 0.5, 1.0):
        value = objective.learner_dropout_objective(outputs, y, "regression", beta, keep)
        assert value.item() == pytest.approx((1 - beta) * l_ind + beta * l_ens_kept)


def test_learner_dropout_with_a_fixed_mask_hand_computed_score():
    # z1 = (0, 0), z2 = (log 3, 0), y = 0; only learner 2 kept: L_ens = −log(3/4)
    outputs = torch.tensor([[[0.0, 0.0]], [[math.log(3.0), 0.0]]], dtype=torch.float64)
    y = torch.tensor([0])
    keep = torch.tensor([False, True])
    l_ind = (math.log(2.0) + math.log(4 / 3)) / 2
    for beta in (0.0, 0.25, 1.0):
        value = objective.learner_dropout_objective(outputs, y, "score", beta, keep)
        assert value.item() == pytest.approx((1 - beta) * l_ind + beta * math.log(4 / 3))


def test_learner_dropout_mask_never_empty_and_conditionally_bernoulli():
    g = torch.Generator().manual_seed(3)
    masks = torch.stack([objective.learner_dropout_mask(2, 0.5, g) for _ in range(20000)])
    assert masks.any(dim=1).all()
    # P(keep j | not both dropped) = 0.5 / 0.75 = 2/3; P(both kept | ...) = 0.25 / 0.75 = 1/3
    torch.testing.assert_close(masks.float().mean(0), torch.full((2,), 2 / 3), atol=0.015, rtol=0)
    assert masks.all(dim=1).float().mean().item() == pytest.approx(1 / 3, abs=0.015)
    # the draw is the generator's: the same seed gives the same masks
    a = [objective.learner_dropout_mask(5, 0.6, torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(a[0], a[1])
    assert objective.learner_dropout_mask(4, 0.999, torch.Generator().manual_seed(0)).sum() >= 1


def all_masks(members, rate):
    """Every non-empty mask with its probability under learner_dropout_mask's law."""
    for bits in itertools.product([False, True], repeat=members):
        if any(bits):
            kept = sum(bits)
            yield (
                torch.tensor(bits),
                (1 - rate) ** kept * rate ** (members - kept) / (1 - rate**members),
            )


@pytest.mark.parametrize("members, rate", [(2, 0.5), (4, 0.3), (5, 0.8)])
def test_learner_dropout_in_expectation_for_mse_is_a_smaller_beta(members, rate):
    g = torch.Generator().manual_seed(members)
    outputs = torch.randn(members, 9, 1, dtype=torch.float64, generator=g)
    y = torch.randn(9, dtype=torch.float64, generator=g)
    for beta in (0.5, 1.0):
        expected = sum(
            p * objective.learner_dropout_objective(outputs, y, "regression", beta, keep)
            for keep, p in all_masks(members, rate)
        )
        equivalent = objective.learner_dropout_mse_beta(beta, rate, members)
        assert 0 < equivalent < beta
        torch.testing.assert_close(
            expected, objective.beta_objective(outputs, y, "regression", equivalent)
        )
    # M = 2, p = 1/2: masks {1}, {2}, {1, 2} equally likely; c = P(s = 1)·(2 − 1)/(1·1) = 2/3
    assert objective.learner_dropout_mse_beta(1.0, 0.5, 2) == pytest.approx(1 - 2 / 3)
    assert objective.learner_dropout_mse_beta(1.0, 0.0, members) == 1.0


def test_learner_dropout_in_expectation_for_score_averaging_is_at_least_the_beta_objective():
    """E_S[z̄_S] = z̄ and cross-entropy is convex in the logits: E_S[L(z̄_S)] ≥ L(z̄) (Jensen)."""
    g = torch.Generator().manual_seed(0)
    outputs = 3 * torch.randn(4, 8, 3, dtype=torch.float64, generator=g)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    expected = sum(
        p * objective.learner_dropout_objective(outputs, y, "score", 1.0, keep)
        for keep, p in all_masks(4, 0.4)
    )
    assert expected > objective.beta_objective(outputs, y, "score", 1.0)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan")])
def test_learner_dropout_bad_rate_raises(rate):
    with pytest.raises(ValueError, match=r"learner dropout rate must be in \[0, 1\)"):
        objective.learner_dropout_mask(3, rate, torch.Generator())


def test_learner_dropout_bad_mask_raises():
    outputs, y = torch.zeros(3, 2, 1), torch.zeros(2)
    with pytest.raises(ValueError, match=r"boolean mask of shape \(3,\)"):
        objective.learner_dropout_objective(outputs, y, "regression", 1.0, torch.ones(3))
    with pytest.raises(ValueError, match=r"boolean mask of shape \(3,\)"):
        objective.learner_dropout_objective(
            outputs, y, "regression", 1.0, torch.ones(2, dtype=torch.bool)
        )
    with pytest.raises(ValueError, match="drops every learner"):
        objective.learner_dropout_objective(
            outputs, y, "regression", 1.0, torch.zeros(3, dtype=torch.bool)
        )


def test_debiasing_penalty_hand_computed():
    # f1 = (3, 5), f2 = (1, 1): learner means 4 and 1, ensemble mean 2.5, bias = ±1.5
    outputs = torch.tensor([[[3.0], [5.0]], [[1.0], [1.0]]], dtype=torch.float64)
    assert objective.debiasing_penalty(outputs, "regression", 2.0).item() == pytest.approx(2 * 2.25)
    y = torch.tensor([0.0, 0.0], dtype=torch.float64)
    value = objective.debiased_objective(outputs, y, "regression", 1.0, 2.0)
    assert value.item() == pytest.approx((2**2 + 3**2) / 2 + 4.5)  # f̄ = (2, 3): L_ens + λ·2.25
    # score averaging: the offset of each logit; z1 = (1, 0), (3, 0); z2 = (0, 0), (0, 2)
    logits = torch.tensor([[[1.0, 0.0], [3.0, 0.0]], [[0.0, 0.0], [0.0, 2.0]]], dtype=torch.float64)
    # learner means (2, 0) and (0, 1); ensemble (1, 0.5); bias ±(1, −0.5): ‖bias‖² = 1.25
    assert objective.debiasing_penalty(logits, "score", 1.0).item() == pytest.approx(1.25)


@PROPERTY
@given(
    st.sampled_from(objective.DEBIASABLE).flatmap(lambda a: st.tuples(st.just(a), problems(a))),
    st.floats(0.0, 10.0),
)
def test_debiasing_penalty_gradient_matches_closed_form(case, strength):
    """∂/∂f_ij of λ Σ_l w_l ‖bias_l‖² = (2λ/N) w_j bias_j (the same for every sample i), because
    ∂bias_l/∂f_ij = (δ_lj − w_j)/N and Σ_l w_l bias_l = 0."""
    aggregation, (outputs, y) = case
    m, n, _ = outputs.shape
    outputs = outputs.clone().requires_grad_(True)
    objective.debiasing_penalty(outputs, aggregation, strength).backward()
    member_means = outputs.detach().mean(dim=1)
    bias = member_means - member_means.mean(dim=0)
    expected = (2 * strength / n) * bias / m
    torch.testing.assert_close(outputs.grad, expected.unsqueeze(1).expand_as(outputs))


@PROPERTY
@given(problems("regression"), st.floats(0.0, 10.0))
def test_debiasing_penalty_for_mse_is_the_diversity_debiasing_removes(problem, strength):
    from collusion import diagnostics

    outputs, y = problem
    effect = diagnostics.debias_effect(outputs.numpy(), y.numpy(), "regression")
    removed = effect["DIV"] - effect["DIV_debiased"]
    assert objective.debiasing_penalty(outputs, "regression", strength).item() == pytest.approx(
        strength * removed, rel=1e-9, abs=1e-9
    )


@PROPERTY
@given(problems("regression"), st.floats(0.0, 2.0))
def test_debiasing_penalty_at_lambda_beta_stops_rewarding_the_offsets_for_mse(problem, beta):
    """DIV = Σ_j w_j bias_j² + DIV' (DIV' of the debiased learners), so L_β + β Σ_j w_j bias_j² =
    L_ind − β DIV': the learners' mean offsets no longer lower the objective."""
    from collusion import diagnostics

    outputs, y = problem
    parts = objective.decomposition(outputs, y, "regression")
    debiased = torch.from_numpy(diagnostics.debias(outputs.numpy()))
    div_debiased = objective.decomposition(debiased, y, "regression")["DIV"]
    torch.testing.assert_close(
        objective.debiased_objective(outputs, y, "regression", beta, beta),
        parts["L_ind"] - beta * div_debiased,
    )


@pytest.mark.parametrize("aggregation", ["probability", "probability_double_softmax"])
def test_debiasing_penalty_refuses_probability_averaging(aggregation):
    with pytest.raises(ValueError, match="sums raw outputs \\(score, sum, regression\\)"):
        objective.debiasing_penalty(torch.zeros(2, 3, 4), aggregation, 1.0)


@pytest.mark.parametrize("strength", [-1.0, float("nan")])
def test_debiasing_penalty_bad_strength_raises(strength):
    with pytest.raises(ValueError, match="strength must be >= 0"):
        objective.debiasing_penalty(torch.zeros(2, 3, 1), "regression", strength)


def test_beta_warmup_endpoints_and_shape():
    assert objective.beta_warmup(0, 100, 1.0) == 0.0
    assert objective.beta_warmup(50, 100, 1.0) == 0.5
    assert objective.beta_warmup(25, 100, 0.8) == pytest.approx(0.2)
    assert objective.beta_warmup(100, 100, 0.8) == 0.8
    assert objective.beta_warmup(10**6, 100, 0.8) == 0.8
    assert objective.beta_warmup(0, 0, 0.8) == 0.8  # no warm-up: the target from the start
    values = [objective.beta_warmup(t, 10, 1.0) for t in range(15)]
    assert values == sorted(values)


def test_beta_warmup_bad_input_raises():
    with pytest.raises(ValueError, match="beta must be >= 0"):
        objective.beta_warmup(0, 10, -1.0)
    with pytest.raises(ValueError, match="step and warmup_steps must be >= 0"):
        objective.beta_warmup(-1, 10, 1.0)
    with pytest.raises(ValueError, match="step and warmup_steps must be >= 0"):
        objective.beta_warmup(0, -10, 1.0)


# -- GNCL (objective.gncl_*): the second-order diversity term -----------------------------------------
@PROPERTY
@given(problems("regression"), st.floats(0.0, 3.0))
def test_gncl_for_mse_is_the_beta_objective_at_beta_lambda(problem, strength):
    """H = 2: (1/2) Σ_j w_j d_j·2·d_j is the ambiguity, i.e. DIV exactly."""
    outputs, y = problem
    torch.testing.assert_close(
        objective.gncl_objective(outputs, y, "regression", strength),
        objective.beta_objective(outputs, y, "regression", strength),
    )


@PROPERTY
@given(problems("score"))
def test_gncl_diversity_is_nonnegative_and_blind_to_a_learners_constant_logit_shift(problem):
    outputs, y = problem
    term = objective.gncl_diversity(outputs, y, "score")
    assert term >= -1e-12
    shifted = outputs.clone()
    shifted[0] += 3.0  # the same shift of all K logits of learner 1: no probability changes
    # f̄ moves by 3/M in every logit, d_j by a constant vector: H·1 = p̄ − p̄ = 0 kills it
    torch.testing.assert_close(objective.gncl_diversity(shifted, y, "score"), term)


def test_gncl_diversity_agrees_with_div_to_second_order_under_score_averaging():
    """Learners ε·v_j around a common logit vector: DIV − GNCL term = O(ε³), so their ratio → 1
    linearly in ε."""
    g = torch.Generator().manual_seed(5)
    base = torch.randn(1, 20, 4, dtype=torch.float64, generator=g)
    spread = torch.randn(6, 20, 4, dtype=torch.float64, generator=g)
    y = torch.randint(0, 4, (20,), generator=g)
    gaps = []
    for eps in (1e-1, 1e-2, 1e-3):
        outputs = base + eps * spread
        div = objective.decomposition(outputs, y, "score")["DIV"]
        gaps.append(abs(div - objective.gncl_diversity(outputs, y, "score")) / div)
    assert gaps[1] < gaps[0] / 5 and gaps[2] < gaps[1] / 5 and gaps[2] < 1e-3


@PROPERTY
@given(problems("score"), st.floats(0.0, 3.0))
def test_gncl_gradient_is_own_residual_minus_lambda_h_d(problem, strength):
    """∂(N·L)/∂z_ij = w_j ((p_ij − e_yi) − λ H_i d_ij), H_i = diag(p̄_i) − p̄_i p̄_iᵀ held constant."""
    outputs, y = problem
    m, n, k = outputs.shape
    leaf = outputs.clone().requires_grad_(True)
    (objective.gncl_objective(leaf, y, "score", strength) * n).backward()
    p_bar = outputs.mean(0).softmax(-1)  # (N, K)
    d = outputs - outputs.mean(0)
    h_d = p_bar * d - p_bar * (p_bar * d).sum(-1, keepdim=True)  # H d, per sample
    onehot = torch.nn.functional.one_hot(y, k).to(outputs.dtype)
    expected = ((outputs.softmax(-1) - onehot) - strength * h_d) / m
    torch.testing.assert_close(leaf.grad, expected)


def test_gncl_refuses_probability_averaging_and_a_negative_strength():
    outputs, y = torch.zeros(2, 3, 4), torch.zeros(3, dtype=torch.long)
    with pytest.raises(ValueError, match=r"averaged raw outputs \(score, regression\)"):
        objective.gncl_diversity(outputs, y, "probability")
    with pytest.raises(ValueError, match="strength must be >= 0"):
        objective.gncl_objective(outputs, y, "score", -1.0)


def test_gncl_under_score_averaging_is_unbounded_below_for_any_positive_lambda():
    """Offsetting moves keep f̄, hence H: GNCL's term grows like t², L_ind like |t|; L_1 stays put."""
    g = torch.Generator().manual_seed(0)
    outputs = torch.randn(3, 5, 4, dtype=torch.float64, generator=g)
    y = torch.tensor([0, 1, 2, 3, 0])
    v = torch.tensor([1.0, -1.0, 0.0, 0.0], dtype=torch.float64).expand(5, 4)
    values = torch.stack(
        [objective.gncl_objective(offset(outputs, v, t), y, "score", 0.1) for t in T_GRID]
    )
    assert values[-1] < -1e6 and (values[-4:].diff() < 0).all()
    l_one = [objective.beta_objective(offset(outputs, v, t), y, "score", 1.0) for t in T_GRID]
    torch.testing.assert_close(torch.stack(l_one), l_one[0].expand(len(T_GRID)))
