"""Several β trained as one pack give, β by β, exactly what each β gives trained alone."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from collusion.data.prepared import load_dataset, save_prepared
from collusion.pipeline import normalise_grid
from collusion.spec import RUN_OUTPUTS, Part, Recipe, RunSpec, TrainingJob
from collusion.train import Trainer


def sequences(tmp_path, n=120, classes=4):
    """MNIST-1D-shaped data: (N, 1, 40) float sequences."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 1, 40)).astype(np.float32)
    y = rng.integers(0, classes, n)
    save_prepared(
        tmp_path / "s.npz",
        X=X,
        y=y,
        task="classification",
        n_classes=classes,
        scale=np.float32(1),
        mean=np.zeros(1, np.float32),
        std=np.ones(1, np.float32),
    )
    return load_dataset(tmp_path / "s.npz", [0.6, 0.2, 0.2], 0)


def table(tmp_path, n=80):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    y = (X @ np.array([1.0, -2.0, 0.5]) + 0.3 * rng.normal(size=n)).astype(np.float32)
    save_prepared(tmp_path / "r.npz", X=X, y=y, task="regression", n_classes=0)
    return load_dataset(tmp_path / "r.npz", [0.6, 0.2, 0.2], 0)


def specs(arch, options, aggregation, betas, **recipe):
    recipe = Recipe(**{"epochs": 5, "lr": 0.01, "batch_size": 16, **recipe})
    return [RunSpec(arch, options, aggregation, 5, beta, 7, recipe) for beta in betas]


def fit(run_specs, data, run_dir, **kwargs):
    trainer = Trainer(run_specs, data, run_dir, checkpoint_seconds=0, **kwargs)
    trainer.fit(log=lambda message: None)
    return trainer


def without_seconds(history):
    return pd.DataFrame(history).drop(columns=["seconds"])


def assert_same_run(packed: Trainer, b: int, alone: Trainer, tmp_path):
    """History, selection, status and both selections' predictions: identical, bit for bit."""
    pd.testing.assert_frame_equal(
        without_seconds(packed.runs[b].history), without_seconds(alone.history), check_exact=True
    )
    assert packed.outcome(b) | {"train_seconds": 0} == alone.outcome() | {"train_seconds": 0}
    packed.write_outputs(tmp_path / "ph.csv", tmp_path / "pp.npz", b)
    alone.write_outputs(tmp_path / "ah.csv", tmp_path / "ap.npz")
    with np.load(tmp_path / "pp.npz") as got, np.load(tmp_path / "ap.npz") as expected:
        assert got.files == expected.files
        for key in expected.files:
            np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


CASES = {
    "stacked mlp, score": ("mlp", {"hidden": [16, 16]}, "score", sequences, "auto"),
    "stacked mlp, probability": ("mlp", {"hidden": [16, 16]}, "probability", sequences, "auto"),
    "cnn1d, stacked": ("cnn1d", {"channels": 6}, "score", sequences, "auto"),
    "cnn1d, member loop": ("cnn1d", {"channels": 6}, "score", sequences, "loop"),
    "cnn1d, vmapped": ("cnn1d", {"channels": 6}, "probability", sequences, "vmapped"),
    "regression mlp": ("mlp", {"hidden": [8, 8]}, "regression", table, "auto"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_pack_trains_every_beta_exactly_as_alone(case, tmp_path):
    arch, options, aggregation, make_data, execution = CASES[case]
    data = make_data(tmp_path)
    betas = [0.0, 0.25, 0.5, 0.75, 1.0, 1.5]
    packed = fit(
        specs(arch, options, aggregation, betas, execution=execution), data, tmp_path / "pack"
    )
    # stacked MLPs: one program of B × M members; any other execution: a program per β
    assert len(packed.pack.programs) == (1 if arch == "mlp" else len(betas))
    for b, beta in enumerate(betas):
        alone = fit(
            specs(arch, options, aggregation, [beta], execution=execution), data, tmp_path / f"b{b}"
        )
        assert_same_run(packed, b, alone, tmp_path)


def test_a_diverged_beta_is_frozen_while_the_others_go_on(tmp_path):
    data = table(tmp_path)
    betas, recipe = [0.0, 3.0], {"epochs": 60, "lr": 0.05, "divergence_limit": 100.0}
    packed = fit(
        specs("mlp", {"hidden": [8, 8]}, "regression", betas, **recipe), data, tmp_path / "pack"
    )
    steady, diverged = packed.runs
    assert diverged.status == "diverged" and len(diverged.history) < 60
    assert steady.status == "completed" and len(steady.history) == 60
    frozen = [t.clone() for t in packed.pack.member_tensors(1)]
    for b, beta in enumerate(betas):  # both, including the diverged β's final (frozen) learners
        alone = fit(
            specs("mlp", {"hidden": [8, 8]}, "regression", [beta], **recipe),
            data,
            tmp_path / f"b{b}",
        )
        assert_same_run(packed, b, alone, tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(frozen, packed.pack.member_tensors(1)))


def test_a_pack_resumes_midway_to_the_same_result(tmp_path):
    data = sequences(tmp_path)
    run_specs = specs("mlp", {"hidden": [16]}, "score", [0.0, 1.0], epochs=6)
    reference = fit(run_specs, data, tmp_path / "reference")

    class Killed(Exception):
        pass

    def kill_after_epoch_3(message):
        if message.startswith("epoch 3/"):
            raise Killed

    with pytest.raises(Killed):
        Trainer(run_specs, data, tmp_path / "killed", checkpoint_seconds=0).fit(
            log=kill_after_epoch_3
        )
    resumed = fit(run_specs, data, tmp_path / "killed")
    assert resumed.resumed_from == 3
    for b in range(2):
        pd.testing.assert_frame_equal(
            without_seconds(resumed.runs[b].history),
            without_seconds(reference.runs[b].history),
            check_exact=True,
        )


def test_a_pack_may_differ_in_beta_and_seed_only(tmp_path):
    data = table(tmp_path)
    first, second = specs("mlp", {"hidden": [8]}, "regression", [0.0, 1.0])
    second.n_members = 3
    with pytest.raises(ValueError, match=r"differ in beta and seed only.*n_members"):
        Trainer([first, second], data, tmp_path / "run")
    first, second = specs("mlp", {"hidden": [8]}, "regression", [0.0, 1.0])
    second.seed = 8  # seed 7 at β 0, seed 8 at β 1: not the same betas for every seed
    with pytest.raises(ValueError, match=r"the same betas for every seed"):
        Trainer([first, second], data, tmp_path / "run")
    with pytest.raises(ValueError, match="plateau"):
        Trainer(
            specs("mlp", {"hidden": [8]}, "regression", [0.0, 1.0], schedule="plateau"),
            data,
            tmp_path / "p",
        )


def test_which_experiments_pack():
    from collusion import checks, plan
    from collusion.config_errors import validate

    def config(dataset="diabetes", schedule="multistep", betas=(0, 1), **experiment):
        return validate(
            {
                "experiments": {
                    "e": {
                        "dataset": dataset,
                        "models": ["m"],
                        "aggregations": ["regression"],
                        "ensemble_sizes": [2],
                        "betas": list(betas),
                        "seeds": [0],
                        "recipe": "r",
                        **experiment,
                    }
                },
                "models": {"m": {"arch": "mlp"}},
                "recipes": {"r": {"epochs": 1, "lr": 0.1, "schedule": schedule}},
            }
        )

    assert plan.packs_betas(config(), "e")  # auto: a CPU-sized dataset with several β
    assert not plan.packs_betas(config(dataset="cifar10"), "e")  # a GPU dataset: one job per run
    assert not plan.packs_betas(config(betas=[0]), "e")
    assert not plan.packs_betas(config(schedule="plateau"), "e")
    assert not plan.packs_betas(config(pack_betas=False), "e")
    assert plan.packs_betas(config(dataset="cifar10", pack_betas=True), "e")
    with pytest.raises(
        checks.ConfigError, match=r"experiments\.e\.pack_betas: true.*plateau.*pack_betas: false"
    ):
        checks.check_packs(config(schedule="plateau", pack_betas=True))


def test_pack_seeds_and_the_jobs_of_an_experiment():
    from collusion import checks, plan
    from collusion.config_errors import validate

    def checked(config):
        normalise_grid(config)
        return config

    def config(dataset="diabetes", seeds=range(7), **experiment):
        return validate(
            {
                "experiments": {
                    "e": {
                        "dataset": dataset,
                        "models": ["m"],
                        "aggregations": ["regression"],
                        "ensemble_sizes": [2],
                        "betas": [0, 1],
                        "seeds": list(seeds),
                        "recipe": "r",
                        **experiment,
                    }
                },
                "models": {"m": {"arch": "mlp"}},
                "recipes": {"r": {"epochs": 1, "lr": 0.1}},
            }
        )

    assert plan.pack_seeds(config(), "e") == plan.PACK_SEEDS_AUTO  # auto, CPU-sized
    assert plan.seed_groups(config(pack_seeds=3), "e") == [[0, 1, 2], [3, 4, 5], [6]]
    assert plan.seed_groups(config(pack_seeds=1), "e") == [[seed] for seed in range(7)]
    assert plan.seed_groups(config(seeds=[4]), "e") == [[4]]
    assert (
        plan.pack_seeds(config(dataset="cifar10", pack_betas=True), "e") == 1
    )  # GPU: a job per run
    assert plan.pack_seeds(config(pack_betas=False), "e") == 1
    assert plan.seeds_label([0, 1, 12]) == "seeds0_1_12" and plan.seeds_label([4]) == "seed4"
    jobs = plan.pack_jobs(checked(config(seeds=[3, 4], pack_seeds=2)), everything=True)
    [job] = jobs
    assert job.slot.key == "e/diabetes/m/regression/M2/pack/seeds3_4"
    assert job.slot.rule == "train_pack_e_m_regression_M2_seeds3_4"
    assert job.outputs[0] == "results/runs/e/diabetes/m/regression/M2/beta0/seed3/history.csv"
    assert (
        job.outputs[3 * 3 + 2]
        == "results/runs/e/diabetes/m/regression/M2/beta1/seed4/provenance.json"
    )
    assert job.job.job_dir == f"results/runs/{job.slot.key}"
    assert [part.run_dirs for part in job.job.parts] == [
        [f"results/runs/e/diabetes/m/regression/M2/beta{beta}/seed{seed}" for beta in (0, 1)]
        for seed in (3, 4)
    ]
    with pytest.raises(
        checks.ConfigError, match=r"experiments\.e\.pack_seeds: 2.*pack_betas: true"
    ):
        checks.check_packs(config(pack_betas=False, pack_seeds=2))


def run_paths(run_dir):
    return SimpleNamespace(
        **{name.split(".")[0]: str(Path(run_dir) / name) for name in RUN_OUTPUTS}, dir=str(run_dir)
    )


def seed_packs(root, seeds, betas=(0.0, 1.0), arch="mlp", options=None, epochs=4):
    """A job's parts (one per seed, all β, each seed its own split) and their runs' outputs, under
    ``root``."""
    packs, outputs = [], []
    for seed in seeds:
        recipe = Recipe(epochs=epochs, lr=0.01, batch_size=16)
        run_specs = [
            RunSpec(arch, options or {"hidden": [8]}, "regression", 3, beta, seed, recipe)
            for beta in betas
        ]
        pack_dir = root / f"seed{seed}"
        runs = [run_paths(pack_dir / f"beta{beta:g}") for beta in betas]
        split = {"fractions": [0.6, 0.2, 0.2], "seed": seed, "fixed": True}
        specs = [s.to_dict() for s in run_specs]
        packs.append(Part(specs, split, [run.dir for run in runs], str(pack_dir)))
        outputs += runs
    return packs, outputs


def assert_same_outputs(got, expected):
    for a, b in zip(got, expected, strict=True):
        pd.testing.assert_frame_equal(
            pd.read_csv(a.history).drop(columns="seconds"),
            pd.read_csv(b.history).drop(columns="seconds"),
            check_exact=True,
        )
        with np.load(a.predictions) as x, np.load(b.predictions) as y:
            assert x.files == y.files
            for key in y.files:
                np.testing.assert_array_equal(x[key], y[key], err_msg=key)


@pytest.mark.parametrize("seed_pack", [True, False], ids=["one program", "seed after seed"])
def test_a_job_of_two_seeds_trains_each_exactly_as_its_own_job(seed_pack, tmp_path):
    import json

    from collusion.job import train

    table(tmp_path)
    data = str(tmp_path / "r.npz")
    packs, outputs = seed_packs(tmp_path / "job", [3, 4])
    job = {"rule": "train_pack_e_seeds3_4", "log": "logs/train/e.log"}
    job_dir = str(tmp_path / "job" / "seeds3_4")
    seeds_job = TrainingJob(packs, data, job_dir, origin=job, one_program=seed_pack)
    train(seeds_job)
    alone = []
    for seed in (3, 4):
        [pack], runs = seed_packs(tmp_path / "alone", [seed])
        train(TrainingJob([pack], data))
        alone += runs
    assert_same_outputs(outputs, alone)
    for paths in outputs:
        record = json.loads(open(paths.provenance).read())
        assert record["job"] == job and record["resumed_from_epoch"] is None
        assert record["pack"].get("seeds") == ([3, 4] if seed_pack else None)
    assert not (
        tmp_path / "job" / "seeds3_4" / "job.json"
    ).exists()  # removed once the job completed

    # a completed job's rerun retrains every seed; so does one whose record another job wrote
    (tmp_path / "job" / "seeds3_4" / "job.json").write_text(
        json.dumps({"identity": "another job", "finished": [pack.pack_dir for pack in packs]})
    )
    for _ in range(2):  # twice: the second run must retrain too
        train(seeds_job)
        assert all(
            json.loads(open(p.provenance).read())["resumed_from_epoch"] is None for p in outputs
        )
    assert_same_outputs(outputs, alone)
