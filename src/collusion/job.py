"""One training job end to end, and its one entry point ``train``: read the data, fit (or resume)
each of its packs, write every run's history.csv, predictions.npz and provenance.json.

A ``spec.TrainingJob`` is the value the workflow builds (collusion.plan, torch-free; the training
rules pass it to workflow/scripts/train.py as a plain dict): its parts, one per seed, each the runs
of that seed (one, or several β) with their split, run directories and pack directory; the
prepared data; and how to run. A job of several seeds trains them as one program where the pack
allows it (stacked MLPs whose seeds' data agree in shape: pack.one_program_obstacle), its checkpoint
in ``job_dir``; otherwise seed after seed, each part's checkpoint in its own pack directory.

``job_dir/job.json`` records a job of several seeds under way, in one format: its identity and the
pack directories of the parts it has finished (their outputs written); in one program, none until
the end. A rerun of the same job (the same parts, data, code and threads) after a kill takes what
it finished from its finished checkpoints instead of retraining it, and resumes the rest. The
record is removed when the job completes, so a later rerun retrains every run.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import torch

from .checkpoint import identity as checkpoint_identity
from .data.prepared import Dataset, file_md5, load_dataset, source_of
from .fingerprint import run_identity, training_fingerprint
from .io import run_lock, write_json
from .models import check_forward
from .pack import one_program_obstacle
from .progress import Progress
from .provenance import now, provenance
from .spec import RUN_OUTPUTS, RunSpec, TrainingJob
from .train import Trainer


def train(job: TrainingJob, log_file=None, console=None, clock=time.monotonic) -> list[dict]:
    """Train ``job``; returns each run's provenance record, part by part. ``log_file`` gets a
    line per period of each pack, ``console`` (the workflow's: stderr) a progress line at most
    every progress.progress_seconds() by ``clock``."""
    if job.job_dir is None and len(job.parts) > 1:
        raise ValueError("several seeds in one job need a job_dir for the record of finished seeds")
    torch.set_num_threads(max(1, int(job.threads)))
    progress = job_progress(job, console, log_file, clock)
    device = torch.device(job.device) if job.device else pick_device()
    spec = RunSpec.from_dict(job.parts[0].specs[0])  # every run of a job trains with one code
    source = {
        "data": job.data,
        "data_md5": file_md5(job.data),
        "data_source": source_of(job.data),
        "code": training_fingerprint(spec.arch, spec.recipe.augment),
        "device": device,
    }
    job_identity = {
        "parts": [asdict(part) for part in job.parts],
        **{key: source[key] for key in ("data_md5", "code")},
        "threads": job.threads,
    }
    if job.one_program and len(job.parts) > 1:
        datasets = [load_split(job.data, part.split, device) for part in job.parts]
        specs = [RunSpec.from_dict(s) for part in job.parts for s in part.specs]
        why_not = one_program_obstacle(specs, datasets)
        if why_not is None:
            identity = checkpoint_identity(**job_identity, seed_pack=True)
            progress.packs = 1  # every seed in one pack
            return one_program(job, datasets, source, identity, progress)
        progress.log(f"training the seeds one after the other: {why_not}")
    return seed_after_seed(job, source, checkpoint_identity(**job_identity), progress)


def job_progress(job: TrainingJob, console, log_file, clock) -> Progress:
    """The job's progress and log (collusion.progress), a pack per part, named for its lines."""
    spec = RunSpec.from_dict(job.parts[0].specs[0])
    name = job.name or f"{spec.arch} {spec.aggregation} M{spec.n_members}"
    return Progress(name, len(job.parts), spec.recipe.epochs, console, log_file, clock)


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_split(data_path: str, split: dict, device) -> Dataset:
    """The prepared data at ``data_path`` split as ``split`` (fractions, seed, fixed) says."""
    return load_dataset(
        data_path, split["fractions"], split["seed"], device, use_fixed_split=split["fixed"]
    )


def read_record(job_dir: str | None, identity: str) -> dict | None:
    """The record ``job_dir/job.json`` of this very job (None: none, or another job's)."""
    path = Path(job_dir) / "job.json" if job_dir is not None else None
    if path is None or not path.exists():
        return None
    record = json.loads(path.read_text())
    return record if record.get("identity") == identity else None


def one_program(job, datasets, source, identity, progress) -> list[dict]:
    """Every run of the job in one program, its checkpoint in ``job_dir``. job.json (written
    first, removed last) says a rerun finds a job that was killed: it takes a finished checkpoint
    as it is (killed while writing the outputs) rather than retraining."""
    killed = read_record(job.job_dir, identity) is not None
    record = Path(job.job_dir) / "job.json"
    write_json(record, {"identity": identity, "finished": []})
    seeds = [part.specs[0]["seed"] for part in job.parts]
    checkpoint = {"directory": job.job_dir, "identity": identity, "reuse_finished": killed}
    data = dict(zip(seeds, datasets))
    records = fit_and_write(job, job.parts, data, checkpoint, source, progress)
    record.unlink()
    return records


def seed_after_seed(job, source, identity, progress) -> list[dict]:
    """Each part in turn, in its own pack directory; with a job record, the parts finished so far
    are noted, and their checkpoints kept until the job completes."""
    found = read_record(job.job_dir, identity)
    finished = found["finished"] if found else []
    record = Path(job.job_dir) / "job.json" if job.job_dir is not None else None
    records = []
    for part in job.parts:
        data = load_split(job.data, part.split, source["device"])
        part_identity = checkpoint_identity(
            runs=part.specs, split=part.split, data_md5=source["data_md5"], code=source["code"]
        )
        checkpoint = {
            "directory": part.pack_dir,
            "identity": part_identity,
            "reuse_finished": part.pack_dir in finished,
        }
        records += fit_and_write(job, [part], data, checkpoint, source, progress)
        if record is not None:
            finished.append(part.pack_dir)
            write_json(record, {"identity": identity, "finished": finished})
    if record is not None:
        if not job.keep_checkpoint:  # kept until now: a killed job resumes its finished seeds
            for part in job.parts:
                (Path(part.pack_dir) / "checkpoint.pt").unlink(missing_ok=True)
        record.unlink()
    return records


@contextmanager
def stop_on_signal(signum: int = signal.SIGUSR1):
    """Yields a flag: has ``signum`` come? SLURM sends USR1 ``signal_seconds`` before a job's time
    limit (--signal=USR1@<s>, profiles/slurm/partitions.yaml); the trainer then saves its checkpoint
    after the current period and stops, and the resubmitted job resumes."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():  # handlers need the main thread
        yield lambda: False
        return
    previous = signal.signal(signum, lambda number, frame: received.append(number))
    try:
        yield lambda: bool(received)
    finally:
        signal.signal(signum, previous)


def fit_and_write(job, parts, data, checkpoint, source, progress) -> list[dict]:
    """Fit the runs of ``parts`` as one pack (``data``: a Dataset, or seed -> its Dataset;
    ``checkpoint``: its directory, identity and whether a finished one is reused; ``progress``:
    the job's progress and log) and write each run's outputs and provenance."""
    started = now()
    specs = [spec for part in parts for spec in part.specs]
    directory = checkpoint["directory"]
    keep = job.keep_checkpoint or (job.job_dir is not None and len(parts) == 1)

    first = data if isinstance(data, Dataset) else next(iter(data.values()))
    check_learner(specs[0], first, parts[0].run_dirs[0])
    with run_lock(directory), stop_on_signal() as stop_requested:
        trainer = Trainer(
            [RunSpec.from_dict(s) for s in specs],
            data,
            directory,
            source["device"],
            job.checkpoint_seconds,
            checkpoint["identity"],
        )
        trainer.stop_requested = stop_requested
        trainer.fit(progress.log, checkpoint["reuse_finished"], progress)
        pack = pack_record(specs, trainer, [part.specs[0]["seed"] for part in parts])
        records, b = [], 0
        for part in parts:
            for spec, run_dir in zip(part.specs, part.run_dirs):
                paths = {name: Path(run_dir) / name for name in RUN_OUTPUTS}
                trainer.write_outputs(paths["history.csv"], paths["predictions.npz"], b)
                record = run_record(spec, part.split, source, trainer.outcome(b))
                record |= {"started": started, "resumed_from_epoch": trainer.resumed_from}
                record |= {"pack": pack, "job": job.origin or None}
                write_json(paths["provenance.json"], record)
                records.append(record)
                b += 1
        if not keep:
            trainer.checkpoint.remove()
    return records


def check_learner(spec: dict, data: Dataset, run_dir: str) -> None:
    """Before anything trains: one learner maps two training examples to (N, out_dim)
    (models.check_forward; a learner returning (N,) would train, then fail in the analyses)."""
    x = data.normalise(data.train.x[:2])
    check_forward(spec["arch"], spec["model_options"], x, data.out_dim, f"the learner of {run_dir}")


def pack_record(specs: list[dict], trainer: Trainer, seeds: list[int]) -> dict | None:
    """What a run's provenance says of the pack it trained in (None: it trained alone)."""
    if len(specs) == 1:
        return None
    pack = {
        "betas": list(dict.fromkeys(s["beta"] for s in specs)),
        "checkpoint": str(trainer.checkpoint.path),
    }
    return pack | ({"seeds": seeds} if len(seeds) > 1 else {})


def run_record(spec: dict, split: dict, source: dict, outcome: dict) -> dict:
    """A run's provenance.json: what produced it (provenance.py), its identity (what the plan
    compares to keep it: fingerprint.run_identity) and its outcome."""
    record = provenance(
        {"run": spec, "split": split},
        RunSpec.from_dict(spec).hash(),
        source["data"],
        source["data_md5"],
        source["device"],
        torch.get_num_threads(),
    )
    if source["data_source"] is not None:  # a dataset of your own: its file and md5
        record["data_source"] = source["data_source"]
    return record | {
        "code_fingerprint": source["code"],
        "identity": run_identity(RunSpec.from_dict(spec).to_dict(), split, source["code"]),
        "outcome": outcome,
    }
