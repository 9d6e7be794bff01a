"""A training job (here a pack of two β) killed midway leaves nothing that looks complete; a rerun
resumes to the same result."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch

from collusion.data.offline import prepare_offline

BETAS = (0.0, 1.0)
SCRIPT = """
import sys
from collusion.job import train
from collusion.spec import Part, TrainingJob
pack_dir = sys.argv[1]
specs = [dict(arch="mlp", model_options={"hidden": [16, 16]}, aggregation="score", n_members=3,
              beta=beta, seed=0, recipe=dict(epochs=40, lr=0.003, batch_size=32)) for beta in (0.0, 1.0)]
run_dirs = [f"{pack_dir}/beta{spec['beta']:g}" for spec in specs]
split = {"fractions": [0.6, 0.15, 0.25], "seed": 0, "fixed": True}
train(TrainingJob([Part(specs, split, run_dirs, pack_dir)], sys.argv[2], checkpoint_seconds=0))
"""


def start(run_dir, data):
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(run_dir), str(data)])


def checkpoint_epoch(run_dir):
    try:
        return torch.load(run_dir / "checkpoint.pt", weights_only=False)["epoch"]
    except Exception:  # not written yet, or being replaced
        return 0


def kill_after_epoch(process, checkpoint_dir, epoch: int) -> None:
    """SIGKILL ``process`` once the checkpoint in ``checkpoint_dir`` is past ``epoch``."""
    deadline = time.monotonic() + 300
    while checkpoint_epoch(checkpoint_dir) < epoch:
        assert process.poll() is None, "the job finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def comparable(history):
    return history.drop(columns=["seconds"])


@pytest.mark.slow
def test_kill_then_resume_gives_the_same_history(tmp_path):
    data = tmp_path / "digits.npz"
    prepare_offline("digits", data)

    reference = tmp_path / "reference"
    assert start(reference, data).wait(timeout=300) == 0

    killed = tmp_path / "killed"
    process = start(killed, data)
    kill_after_epoch(process, killed, 5)
    # nothing that looks complete: only the checkpoint (and no stray temporary files of outputs)
    assert sorted(
        p.name for p in killed.rglob("*") if p.is_file() and not p.name.startswith(".")
    ) == ["checkpoint.pt"]
    epoch_at_kill = checkpoint_epoch(killed)
    assert 5 <= epoch_at_kill < 40

    assert start(killed, data).wait(timeout=300) == 0
    for beta in BETAS:
        run, expected_run = killed / f"beta{beta:g}", reference / f"beta{beta:g}"
        resumed = pd.read_csv(run / "history.csv")
        expected = pd.read_csv(expected_run / "history.csv")
        assert len(resumed) == 40
        pd.testing.assert_frame_equal(comparable(resumed), comparable(expected))
        with np.load(run / "predictions.npz") as a, np.load(expected_run / "predictions.npz") as b:
            for key in b.files:
                np.testing.assert_array_equal(a[key], b[key])
        provenance = json.loads((run / "provenance.json").read_text())
        assert provenance["resumed_from_epoch"] == epoch_at_kill


SEEDS_SCRIPT = """
import sys
from collusion.job import train
from collusion.spec import Part, TrainingJob
root = sys.argv[1]
parts = []
for seed in (0, 1):
    specs = [dict(arch="mlp", model_options={"hidden": [16, 16]}, aggregation="score", n_members=3,
                  beta=beta, seed=seed, recipe=dict(epochs=40, lr=0.003, batch_size=32)) for beta in (0.0, 1.0)]
    split = {"fractions": [0.6, 0.15, 0.25], "seed": seed, "fixed": True}
    run_dirs = [f"{root}/seed{seed}/beta{spec['beta']:g}" for spec in specs]
    parts.append(Part(specs, split, run_dirs, f"{root}/seed{seed}"))
train(TrainingJob(parts, sys.argv[2], job_dir=f"{root}/job", checkpoint_seconds=0,
                  one_program=sys.argv[3] == "one program"))
"""


def start_job(root, data, how="seed after seed"):
    return subprocess.Popen([sys.executable, "-c", SEEDS_SCRIPT, str(root), str(data), how])


def assert_same_runs(got, expected, seeds=(0, 1)):
    for seed in seeds:
        for beta in BETAS:
            run, expected_run = (
                got / f"seed{seed}/beta{beta:g}",
                expected / f"seed{seed}/beta{beta:g}",
            )
            pd.testing.assert_frame_equal(
                comparable(pd.read_csv(run / "history.csv")),
                comparable(pd.read_csv(expected_run / "history.csv")),
            )
            with (
                np.load(run / "predictions.npz") as a,
                np.load(expected_run / "predictions.npz") as b,
            ):
                for key in b.files:
                    np.testing.assert_array_equal(a[key], b[key])


@pytest.mark.slow
def test_a_job_of_two_seeds_killed_in_the_second_resumes_it_and_keeps_the_first(tmp_path):
    data = tmp_path / "digits.npz"
    prepare_offline("digits", data)
    reference = tmp_path / "reference"
    assert start_job(reference, data).wait(timeout=300) == 0

    killed = tmp_path / "killed"
    process = start_job(killed, data)
    kill_after_epoch(process, killed / "seed1", 5)
    epoch_at_kill = checkpoint_epoch(killed / "seed1")
    assert 5 <= epoch_at_kill < 40
    first_histories = {
        beta: pd.read_csv(killed / f"seed0/beta{beta:g}/history.csv") for beta in BETAS
    }
    # Snakemake removes an incomplete job's outputs before it reruns it: seed 0's too
    for run in (killed / "seed0").glob("beta*"):
        for name in ("history.csv", "predictions.npz", "provenance.json"):
            (run / name).unlink()

    assert start_job(killed, data).wait(timeout=300) == 0
    for seed in (0, 1):
        for beta in BETAS:
            run, expected_run = (
                killed / f"seed{seed}/beta{beta:g}",
                reference / f"seed{seed}/beta{beta:g}",
            )
            resumed = pd.read_csv(run / "history.csv")
            pd.testing.assert_frame_equal(
                comparable(resumed), comparable(pd.read_csv(expected_run / "history.csv"))
            )
            with (
                np.load(run / "predictions.npz") as a,
                np.load(expected_run / "predictions.npz") as b,
            ):
                for key in b.files:
                    np.testing.assert_array_equal(a[key], b[key])
            provenance = json.loads((run / "provenance.json").read_text())
            if seed == 0:  # finished before the kill: taken from its checkpoint, not retrained
                assert provenance["resumed_from_epoch"] == 40
                pd.testing.assert_frame_equal(resumed, first_histories[beta])  # its seconds too
            else:
                assert provenance["resumed_from_epoch"] == epoch_at_kill
    assert not (killed / "job" / "job.json").exists()


@pytest.mark.slow  # a real SIGKILL; test_seed_pack.py kills a seed pack in-process, fast
def test_a_job_of_two_seeds_in_one_program_killed_midway_resumes_to_the_seed_after_seed_result(
    tmp_path,
):
    data = tmp_path / "digits.npz"
    prepare_offline("digits", data)
    reference = tmp_path / "reference"
    assert start_job(reference, data).wait(timeout=300) == 0

    killed = tmp_path / "killed"
    process = start_job(killed, data, "one program")
    kill_after_epoch(process, killed / "job", 5)
    epoch_at_kill = checkpoint_epoch(killed / "job")
    assert 5 <= epoch_at_kill < 40
    # nothing that looks complete: the job's checkpoint and record only
    assert sorted(
        str(p.relative_to(killed)) for p in killed.rglob("*") if p.is_file() and p.name[0] != "."
    ) == ["job/checkpoint.pt", "job/job.json"]

    assert start_job(killed, data, "one program").wait(timeout=300) == 0
    assert_same_runs(killed, reference)
    for seed in (0, 1):
        for beta in BETAS:
            provenance = json.loads(
                (killed / f"seed{seed}/beta{beta:g}/provenance.json").read_text()
            )
            assert provenance["resumed_from_epoch"] == epoch_at_kill
            assert provenance["pack"]["seeds"] == [0, 1]
    assert not (killed / "job" / "job.json").exists()
