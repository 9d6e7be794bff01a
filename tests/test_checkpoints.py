"""A checkpoint answers only the run that wrote it, and a fault never leaves a wrong result: reruns,
changed data or code, corrupt checkpoints, two trainers, a full disk (issue: stale results)."""

import io as stdio
import json
import os

import numpy as np
import pandas as pd
import pytest
import torch

from collusion import fingerprint, io, job
from collusion.data.prepared import save_prepared
from collusion.spec import Part, TrainingJob

SPEC = dict(
    arch="mlp",
    model_options={"hidden": [8]},
    aggregation="regression",
    n_members=2,
    beta=1.0,
    seed=0,
    recipe=dict(epochs=4, lr=0.01, batch_size=16),
)
SPLIT = {"fractions": [0.6, 0.2, 0.2], "seed": 0, "fixed": True}


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 3)).astype(np.float32)
    y = (X.sum(axis=1) + 0.1 * rng.normal(size=60)).astype(np.float32)
    save_prepared(tmp_path / "data.npz", X=X, y=y, task="regression", n_classes=0)
    return str(tmp_path / "data.npz")


class Crash(Exception):
    pass


class Log(stdio.StringIO):
    """The job's log; optionally crashes the job (like a kill) once a message starts with `crash_at`."""

    def __init__(self, crash_at=None):
        super().__init__()
        self.crash_at = crash_at

    def write(self, text):
        if self.crash_at and text.startswith(self.crash_at):
            raise Crash
        return super().write(text)


def train(run_dir, data, log=None, split=SPLIT, **spec):
    one = TrainingJob.of_run({**SPEC, **spec}, split, data, run_dir, checkpoint_seconds=0)
    return job.train(one, log or Log())[0]


def interrupted(run_dir, data, **spec):
    """A run killed after its second epoch's checkpoint."""
    with pytest.raises(Crash):
        train(run_dir, data, Log(crash_at="epoch 2/"), **spec)
    assert torch.load(run_dir / "checkpoint.pt", weights_only=False)["epoch"] == 2


def history(run_dir):
    return pd.read_csv(run_dir / "history.csv").drop(columns=["seconds"])


def test_an_interrupted_run_resumes_and_says_so_in_provenance(tmp_path, data):
    reference = train(tmp_path / "reference", data)
    assert reference["resumed_from_epoch"] is None
    interrupted(tmp_path / "run", data)
    record = train(tmp_path / "run", data)
    assert record["resumed_from_epoch"] == 2
    pd.testing.assert_frame_equal(history(tmp_path / "run"), history(tmp_path / "reference"))
    for key in ("started", "finished", "code_fingerprint", "hardware"):
        assert record[key], key
    assert set(record["hardware"]) == {"cpu", "gpu", "cuda", "cudnn"}
    assert (
        record["code_fingerprint"] == fingerprint.training_fingerprint("mlp")
        and record["pack"] is None
    )


def test_a_finished_checkpoint_is_never_served_to_a_rerun(tmp_path, data):
    train(tmp_path / "run", data)
    (tmp_path / "run" / "history.csv").unlink()  # what `snakemake --forcerun` does to the outputs
    log = Log()
    record = train(tmp_path / "run", data, log)
    assert record["resumed_from_epoch"] is None and "holds a finished run" in log.getvalue()
    assert "resumed" not in log.getvalue()
    assert len(pd.read_csv(tmp_path / "run" / "history.csv")) == 4


@pytest.mark.parametrize("change", ["split", "data", "code"])
def test_a_checkpoint_resumes_only_its_own_split_data_and_code(tmp_path, data, change, monkeypatch):
    interrupted(tmp_path / "run", data)
    split = SPLIT
    if change == "split":
        split = {**SPLIT, "seed": 1}
    elif change == "data":  # re-prepared data: the same path, other contents
        arrays = dict(np.load(data))
        arrays["y"] = arrays["y"] + 1
        save_prepared(data, **arrays)
    else:
        monkeypatch.setattr(job, "training_fingerprint", lambda *arch: "an edited training code")
    log = Log()
    record = train(tmp_path / "run", data, log, split=split)
    assert record["resumed_from_epoch"] is None
    assert "written by another run, data or training code" in log.getvalue()
    assert len(pd.read_csv(tmp_path / "run" / "history.csv")) == 4


def test_the_code_fingerprint_covers_the_training_modules(tmp_path, monkeypatch):
    names = {
        path.relative_to(fingerprint.PACKAGE).as_posix() for path in fingerprint.training_files()
    }
    assert {
        "train.py",
        "objective.py",
        "ensemble.py",
        "models/small.py",
        "data/prepared.py",
    } <= names
    assert "figures/beta_sweep.py" not in names and "claims.py" not in names
    copy = tmp_path / "collusion"
    for name in names:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes((fingerprint.PACKAGE / name).read_bytes())
    monkeypatch.setattr(fingerprint, "PACKAGE", copy)

    def code():
        return fingerprint.digest(fingerprint.training_files())

    before = code()
    assert before == code()
    with open(copy / "objective.py", "a") as source:
        source.write("\n# an edit\n")
    assert code() != before


def test_a_corrupt_checkpoint_is_moved_aside_and_the_run_starts_afresh(tmp_path, data):
    interrupted(tmp_path / "run", data)
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])  # truncated
    log = Log()
    record = train(tmp_path / "run", data, log)
    assert record["resumed_from_epoch"] is None
    assert "warning: unreadable checkpoint" in log.getvalue()
    (aside,) = (tmp_path / "run").glob("checkpoint.corrupt-*.pt")
    assert aside.stat().st_size == 1000
    assert len(pd.read_csv(tmp_path / "run" / "history.csv")) == 4


def test_two_trainers_never_share_a_run_directory(tmp_path, data):
    with io.run_lock(tmp_path / "run"):
        with pytest.raises(
            io.RunLockedError,
            match=rf"{tmp_path / 'run'} is being trained by another process \(pid {os.getpid()}",
        ):
            train(tmp_path / "run", data)
    assert not (tmp_path / "run" / "history.csv").exists()
    train(tmp_path / "run", data)  # released: the next trainer runs


def test_temporary_names_are_unique_and_never_left_behind(tmp_path):
    names = []

    def write(tmp):
        names.append(tmp.name)
        tmp.write_text("x")

    io.atomic_write(tmp_path / "out.csv", write)
    io.atomic_write(tmp_path / "out.csv", write)
    assert names[0] != names[1] and all(name.startswith(".out.csv.") for name in names)
    with pytest.raises(ZeroDivisionError):
        io.atomic_write(tmp_path / "out.csv", lambda tmp: 1 / 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
    assert (tmp_path / "out.csv").stat().st_mode & 0o777 == 0o666 & ~io.current_umask()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_full_disk_is_reported_as_such(tmp_path):
    def write_to_a_full_disk(tmp):
        io.write_bytes(tmp, b"")  # the temporary file, then bytes the disk has no room for
        with open("/dev/full", "wb") as full:
            full.write(io.serialise({"weights": torch.zeros(1000)}))
            full.flush()

    with pytest.raises(
        io.OutOfSpaceError,
        match=rf"no space left on the device while writing {tmp_path / 'checkpoint.pt'}",
    ):
        io.atomic_write(tmp_path / "checkpoint.pt", write_to_a_full_disk)
    assert list(tmp_path.iterdir()) == []


def test_every_run_of_a_pack_records_the_pack(tmp_path, data):
    run_dirs = [str(tmp_path / f"beta{beta}") for beta in (0.0, 2.0)]
    specs = [{**SPEC, "beta": beta} for beta in (0.0, 2.0)]
    part = Part(specs, SPLIT, run_dirs, str(tmp_path / "pack"))
    records = job.train(TrainingJob([part], data, checkpoint_seconds=0), Log())
    for record, run_dir in zip(records, run_dirs):
        assert record["pack"] == {
            "betas": [0.0, 2.0],
            "checkpoint": str(tmp_path / "pack" / "checkpoint.pt"),
        }
        assert json.loads(open(f"{run_dir}/provenance.json").read())["pack"] == record["pack"]


def test_a_run_resumes_whatever_device_its_trainer_loads_for(tmp_path, data, monkeypatch):
    """A checkpoint read for a GPU trainer once came back with its RNG states on the GPU, and
    restoring them raised "RNG state must be a torch.ByteTensor": every CUDA resume failed. Here a
    trainer whose device is a non-CPU one (meta) while it resumes must resume like a CPU one."""
    from collusion.train import Trainer

    reference = train(tmp_path / "reference", data)
    interrupted(tmp_path / "run", data)
    resume = Trainer.resume

    def resume_for_another_device(self, *args, **kwargs):
        device, self.device = self.device, torch.device("meta")
        try:
            return resume(self, *args, **kwargs)
        finally:
            self.device = device

    monkeypatch.setattr(Trainer, "resume", resume_for_another_device)
    record = train(tmp_path / "run", data)
    assert reference["resumed_from_epoch"] is None and record["resumed_from_epoch"] == 2
    pd.testing.assert_frame_equal(history(tmp_path / "run"), history(tmp_path / "reference"))
