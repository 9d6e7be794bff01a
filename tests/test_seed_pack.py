"""The β of several seeds trained as one program of stacked MLPs give, run by run, exactly what
each (seed, β) gives trained alone: each seed with its own split, minibatches, masks and stops."""

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from collusion import objective
from collusion.data.prepared import load_dataset
from collusion.job import train
from collusion.pack import one_program_obstacle
from collusion.spec import Recipe, RunSpec, TrainingJob
from test_pack import assert_same_outputs, assert_same_run, fit, seed_packs, sequences, table

SEEDS = (3, 4, 5)


def per_seed_data(path, seeds=SEEDS):
    """Each seed's own random split of the prepared file (diabetes' ``split: {seed: run}``)."""
    return {seed: load_dataset(path, [0.6, 0.2, 0.2], seed) for seed in seeds}


def seed_specs(arch, options, aggregation, betas, seeds=SEEDS, **recipe):
    recipe = Recipe(**{"epochs": 5, "lr": 0.01, "batch_size": 16, **recipe})
    return [
        RunSpec(arch, options, aggregation, 4, beta, seed, recipe)
        for seed in seeds
        for beta in betas
    ]


def test_per_sample_losses_take_each_ensembles_own_targets():
    torch.manual_seed(0)
    for aggregation, k in [("regression", 1), ("score", 3), ("probability", 3)]:
        outputs = torch.randn(2, 4, 6, k)
        y = torch.randn(2, 6) if k == 1 else torch.randint(0, k, (2, 6))
        ensemble, members = objective.per_sample_losses(outputs, y, aggregation)
        for b in range(2):
            alone_ensemble, alone_members = objective.per_sample_losses(
                outputs[b], y[b], aggregation
            )
            assert torch.equal(ensemble[b], alone_ensemble) and torch.equal(
                members[b], alone_members
            )


CASES = {
    "classification, score": ("mlp", {"hidden": [16, 16]}, "score", sequences, {}),
    "classification, probability, train subset": (
        "mlp",
        {"hidden": [16]},
        "probability",
        sequences,
        {"eval_train_subset": 20},
    ),
    "regression, per-seed splits": ("mlp", {"hidden": [8, 8]}, "regression", table, {}),
    "regression, learner dropout": (
        "mlp",
        {"hidden": [8]},
        "regression",
        table,
        {"learner_dropout": 0.4},
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_a_seed_pack_trains_every_run_exactly_as_alone(case, tmp_path):
    arch, options, aggregation, make_data, recipe = CASES[case]
    make_data(tmp_path)
    data = per_seed_data(next(tmp_path.glob("*.npz")))
    betas = [0.0, 0.5, 1.0]
    packed = fit(seed_specs(arch, options, aggregation, betas, **recipe), data, tmp_path / "pack")
    assert len(packed.pack.programs) == 1 and len(packed.pack.groups) == len(SEEDS)
    for r, run in enumerate(packed.runs):
        seed, beta = run.spec.seed, run.spec.beta
        alone = fit(
            seed_specs(arch, options, aggregation, [beta], seeds=[seed], **recipe),
            data[seed],
            tmp_path / f"s{seed}b{beta:g}",
        )
        assert_same_run(packed, r, alone, tmp_path)


@pytest.mark.slow
def test_a_run_that_diverges_in_one_seed_is_frozen_while_the_others_go_on(tmp_path):
    table(tmp_path)
    data = per_seed_data(tmp_path / "r.npz", seeds=(3, 4))
    betas, recipe = [0.0, 3.0], {"epochs": 60, "lr": 0.05, "divergence_limit": 100.0}
    run_specs = seed_specs("mlp", {"hidden": [8, 8]}, "regression", betas, seeds=(3, 4), **recipe)
    packed = fit(run_specs, data, tmp_path / "pack")
    statuses = [(run.spec.beta, run.status, len(run.history)) for run in packed.runs]
    assert [s[1] for s in statuses] == ["completed", "diverged"] * 2, statuses
    assert all(n == 60 for beta, _, n in statuses if beta == 0.0)
    assert all(n < 60 for beta, _, n in statuses if beta == 3.0)
    for r, run in enumerate(packed.runs):
        alone = fit(
            seed_specs(
                "mlp", {"hidden": [8, 8]}, "regression", [run.spec.beta], [run.spec.seed], **recipe
            ),
            data[run.spec.seed],
            tmp_path / f"r{r}",
        )
        assert_same_run(packed, r, alone, tmp_path)


def job(root, seeds=SEEDS, betas=(0.0, 1.0), arch="mlp", options=None, epochs=6):
    """A multi-seed job's packs (one per seed, all β, each seed its own split) and outputs."""
    return seed_packs(root, seeds, betas, arch, options, epochs)


class Killed(Exception):
    pass


class KillAt:
    """A log file that kills the job when the line ``at`` starts is written."""

    def __init__(self, at):
        self.at = at

    def write(self, text):
        if text.startswith(self.at):
            raise Killed

    def flush(self):
        pass


def provenances(outputs):
    return [json.loads(open(paths.provenance).read()) for paths in outputs]


@pytest.mark.slow
def test_a_killed_seed_pack_job_resumes_to_the_same_result(tmp_path):
    table(tmp_path)
    data = str(tmp_path / "r.npz")
    alone = []
    for seed in SEEDS:  # the reference: each seed's pack as its own job
        [pack], runs = job(tmp_path / "alone", [seed])
        train(TrainingJob([pack], data))
        alone += runs

    packs, outputs = job(tmp_path / "job", SEEDS)
    job_dir = tmp_path / "job" / "seeds"
    seeds_job = TrainingJob(packs, data, str(job_dir), checkpoint_seconds=0)
    with pytest.raises(Killed):
        train(seeds_job, KillAt("epoch 4/"))
    assert (job_dir / "job.json").exists() and (job_dir / "checkpoint.pt").exists()
    assert not any(Path(p.history).exists() for p in outputs)  # nothing that looks complete
    train(seeds_job)
    assert_same_outputs(outputs, alone)
    for record in provenances(outputs):
        assert record["resumed_from_epoch"] == 4  # the checkpoint saved before the kill
        assert record["pack"]["seeds"] == list(SEEDS) and record["pack"]["betas"] == [0.0, 1.0]
        assert record["pack"]["checkpoint"] == str(job_dir / "checkpoint.pt")
    assert not (job_dir / "job.json").exists()

    # a completed job's rerun retrains
    train(seeds_job)
    assert all(r["resumed_from_epoch"] is None for r in provenances(outputs))

    # a checkpoint of another configuration (here: another thread count) is not resumed
    with pytest.raises(Killed):
        train(TrainingJob(packs, data, str(job_dir)), KillAt("epoch 4/"))
    train(TrainingJob(packs, data, str(job_dir), threads=2))
    assert all(r["resumed_from_epoch"] is None for r in provenances(outputs))


def test_a_job_whose_packs_cannot_share_a_program_trains_seed_after_seed(tmp_path):
    sequences(tmp_path)
    path = tmp_path / "s.npz"
    data = [load_dataset(path, [0.6, 0.2, 0.2], seed) for seed in SEEDS]
    packs, _ = job(tmp_path, arch="cnn1d", options={"channels": 4})
    assert "stacked MLP" in obstacle(packs, data)
    packs, _ = job(tmp_path)
    assert obstacle(packs, data) is None
    other = load_dataset(path, [0.5, 0.3, 0.2], 3)
    assert "one shape" in obstacle(packs, [other] + data[1:])
    packs[1] = dataclasses.replace(packs[1], specs=packs[1].specs[:1])
    assert "same betas" in obstacle(packs, data)


def obstacle(parts, datasets):
    """Why the parts of a job cannot train as one program (pack.one_program_obstacle)."""
    specs = [RunSpec.from_dict(spec) for part in parts for spec in part.specs]
    return one_program_obstacle(specs, datasets)
