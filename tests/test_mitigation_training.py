"""The mitigation options of the recipe in training: off is today's training, on changes only the
objective (same learners, same minibatches), and a run with them on resumes and packs exactly."""

import numpy as np
import pandas as pd
import pytest
import torch

from collusion import objective
from collusion.data.prepared import load_dataset, save_prepared
from collusion.spec import Recipe, RunSpec
from collusion.train import Trainer

MITIGATIONS = {
    "learner dropout": {"learner_dropout": 0.5},
    "debiasing penalty": {"debiasing_penalty": 1.0},
    "beta warm-up": {"beta_warmup": 2},
    "GNCL": {"gncl": True},
}


def data(tmp_path, n=60, classes=4):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    y = rng.integers(0, classes, n)
    save_prepared(tmp_path / "c.npz", X=X, y=y, task="classification", n_classes=classes)
    return load_dataset(tmp_path / "c.npz", [0.6, 0.2, 0.2], 0)  # 36 training examples


def specs(betas=(1.0,), aggregation="score", **recipe):
    recipe = Recipe(
        **{"epochs": 4, "lr": 0.01, "batch_size": 8, **recipe}
    )  # 5 minibatches an epoch
    return [RunSpec("mlp", {"hidden": [8]}, aggregation, 4, beta, 3, recipe) for beta in betas]


def fit(run_specs, dataset, run_dir, trainer=None, **kwargs):
    trainer = (trainer or Trainer)(run_specs, dataset, run_dir, checkpoint_seconds=0, **kwargs)
    trainer.fit(log=lambda message: None)
    return trainer


def history(trainer, b=0):
    return pd.DataFrame(trainer.runs[b].history).drop(columns=["seconds"])


def assert_same(a: Trainer, b: Trainer, tmp_path, run_a=0, run_b=0):
    """Run ``run_a`` of ``a`` and ``run_b`` of ``b``: history and both selections' predictions,
    bit for bit."""
    pd.testing.assert_frame_equal(history(a, run_a), history(b, run_b), check_exact=True)
    a.write_outputs(tmp_path / "ah.csv", tmp_path / "ap.npz", run_a)
    b.write_outputs(tmp_path / "bh.csv", tmp_path / "bp.npz", run_b)
    with np.load(tmp_path / "ap.npz") as got, np.load(tmp_path / "bp.npz") as expected:
        for key in expected.files:
            np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


class Unmitigated(Trainer):
    """The per-β objective as training had it before the mitigations: plain L_β."""

    def run_objective(self, b, outputs, y, keep):
        spec = self.runs[b].spec
        return objective.beta_objective(outputs, y, spec.aggregation, spec.beta)


@pytest.mark.parametrize("aggregation", ["score", "probability"])
def test_options_off_train_exactly_as_plain_beta_objective(aggregation, tmp_path):
    dataset = data(tmp_path)
    run_specs = specs(
        (0.0, 0.5, 1.0), aggregation, learner_dropout=0.0, debiasing_penalty=0.0, beta_warmup=0
    )
    assert run_specs[0].recipe == Recipe(epochs=4, lr=0.01, batch_size=8)  # the defaults are off
    today = fit(run_specs, dataset, tmp_path / "today", Unmitigated)
    off = fit(run_specs, dataset, tmp_path / "off")
    for b in range(3):
        assert_same(off, today, tmp_path, b, b)


def test_the_objective_each_option_trains(tmp_path):
    dataset = data(tmp_path)
    outputs = torch.randn(4, 8, 4, generator=torch.Generator().manual_seed(0))
    y = torch.arange(8) % 4
    keep = torch.tensor([True, False, True, True])

    trainer = Trainer(specs(learner_dropout=0.5), dataset, tmp_path / "a")
    assert torch.equal(
        trainer.run_objective(0, outputs, y, keep),
        objective.learner_dropout_objective(outputs, y, "score", 1.0, keep),
    )

    trainer = Trainer(specs(debiasing_penalty=0.3), dataset, tmp_path / "b")
    assert torch.equal(
        trainer.run_objective(0, outputs, y, None),
        objective.debiased_objective(outputs, y, "score", 1.0, 0.3),
    )

    trainer = Trainer(specs((0.5, 1.0), gncl=True), dataset, tmp_path / "gncl")
    for b, strength in enumerate((0.5, 1.0)):  # λ = the run's β, L_β replaced
        assert torch.equal(
            trainer.run_objective(b, outputs, y, None),
            objective.gncl_objective(outputs, y, "score", strength),
        )
    assert not torch.equal(
        trainer.run_objective(1, outputs, y, None), objective.beta_objective(outputs, y, "score", 1)
    )

    trainer = Trainer(specs(beta_warmup=2), dataset, tmp_path / "c")
    assert trainer.steps_per_period() == 5  # 36 examples in minibatches of 8
    for step, beta in [(0, 0.0), (1, 0.1), (5, 0.5), (9, 0.9), (10, 1.0), (17, 1.0)]:
        trainer.step = step
        assert torch.equal(
            trainer.run_objective(0, outputs, y, None),
            objective.beta_objective(outputs, y, "score", beta),
        ), step


@pytest.mark.parametrize("mitigation", MITIGATIONS)
def test_each_option_changes_training_but_not_the_learners_or_minibatches(mitigation, tmp_path):
    dataset = data(tmp_path)
    plain = fit(specs(), dataset, tmp_path / "plain")
    mitigated = fit(specs(**MITIGATIONS[mitigation]), dataset, tmp_path / "mitigated")
    assert mitigated.status == "completed" and mitigated.step == plain.step == 4 * 5
    assert np.isfinite(history(mitigated).to_numpy()).all()
    assert not history(mitigated).equals(history(plain))
    # paired with the unmitigated run: the minibatch stream is where the plain run left it
    assert torch.equal(
        mitigated.pack.groups[0].generator.get_state(), plain.pack.groups[0].generator.get_state()
    )
    pair = (specs(), specs(**MITIGATIONS[mitigation]))
    fresh = [Trainer(s, dataset, tmp_path / f"fresh{i}") for i, s in enumerate(pair)]
    for a, b in zip(*(t.ensemble.state_dict().values() for t in fresh)):
        assert torch.equal(a, b)  # the same initial learners


@pytest.mark.parametrize("mitigation", ["learner dropout", "beta warm-up"])
def test_at_beta_zero_dropout_and_warmup_leave_training_exactly_as_it_was(mitigation, tmp_path):
    # the ensemble term has weight 0: the masks and the schedule must change nothing else
    dataset = data(tmp_path)
    plain = fit(specs((0.0,)), dataset, tmp_path / "plain")
    mitigated = fit(specs((0.0,), **MITIGATIONS[mitigation]), dataset, tmp_path / "mitigated")
    assert_same(mitigated, plain, tmp_path)


def test_with_dropout_a_pack_trains_every_beta_as_alone(tmp_path):
    dataset = data(tmp_path)
    recipe = {"learner_dropout": 0.5, "debiasing_penalty": 0.5, "beta_warmup": 1}
    packed = fit(specs((0.5, 1.0), **recipe), dataset, tmp_path / "pack")
    for b, beta in enumerate((0.5, 1.0)):
        alone = fit(specs((beta,), **recipe), dataset, tmp_path / f"alone{b}")
        assert_same(packed, alone, tmp_path, b, 0)


def test_a_mitigated_pack_killed_midway_resumes_to_the_same_result(tmp_path):
    dataset = data(tmp_path)
    run_specs = specs(
        (0.5, 1.0), epochs=5, learner_dropout=0.5, debiasing_penalty=0.5, beta_warmup=3
    )
    reference = fit(run_specs, dataset, tmp_path / "reference")

    class Killed(Exception):
        pass

    def kill_after_epoch_2(message):
        if message.startswith("epoch 2/"):
            raise Killed

    with pytest.raises(Killed):
        Trainer(run_specs, dataset, tmp_path / "killed", checkpoint_seconds=0).fit(
            log=kill_after_epoch_2
        )
    resumed = fit(run_specs, dataset, tmp_path / "killed")
    assert resumed.resumed_from == 2  # mid warm-up, with masks drawn: both streams restored
    for b in range(2):
        assert_same(resumed, reference, tmp_path, b, b)


def test_the_options_name_the_run():
    hashes = {
        s[0].hash() for s in [specs()] + [specs(**options) for options in MITIGATIONS.values()]
    }
    assert len(hashes) == 1 + len(MITIGATIONS)


@pytest.mark.parametrize("aggregation", ["probability", "probability_double_softmax"])
def test_the_debiasing_penalty_is_refused_for_probability_averaging(aggregation, tmp_path):
    with pytest.raises(
        ValueError, match="debiasing_penalty needs an ensemble that averages raw outputs"
    ):
        Trainer(
            specs(aggregation=aggregation, debiasing_penalty=1.0), data(tmp_path), tmp_path / "run"
        )


@pytest.mark.parametrize(
    "options, message",
    [
        ({"learner_dropout": 1.0}, "learner_dropout is a rate in"),
        ({"debiasing_penalty": -1.0}, "debiasing_penalty must be >= 0"),
        ({"beta_warmup": 1.5}, "beta_warmup is a whole number"),
        ({"gncl": 1}, "gncl is true or false"),
        ({"gncl": True, "learner_dropout": 0.5}, "gncl replaces L_β"),
    ],
)
def test_out_of_range_options_are_refused(options, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        Trainer(specs(**options), data(tmp_path), tmp_path / "run")


@pytest.mark.parametrize("aggregation", ["probability", "sum"])
def test_gncl_is_refused_where_its_diversity_term_is_undefined(aggregation, tmp_path):
    with pytest.raises(ValueError, match="gncl needs a loss of the averaged raw outputs"):
        Trainer(specs(aggregation=aggregation, gncl=True), data(tmp_path), tmp_path / "run")
