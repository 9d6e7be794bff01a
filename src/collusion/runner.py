"""One training job end to end: read data, fit (or resume), write outputs and provenance. A job
trains one run, a pack of runs that differ in β only, or the β packs of several seeds (as one
program where they are stacked MLPs, train.py); every run gets its own history.csv,
predictions.npz and provenance.json."""

from __future__ import annotations

import json
import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import torch

from .data.prepared import Dataset, file_md5, load_dataset
from .ensemble import Ensemble, StackedMLP
from .fingerprint import code_fingerprint
from .io import run_lock, write_json
from .provenance import now, provenance
from .train import Recipe, RunSpec, Trainer, canonical_hash, check_pack, check_seed_data


def spec_from_dict(spec: dict) -> RunSpec:
    return RunSpec(**{**spec, "recipe": Recipe(**spec["recipe"])})


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def checkpoint_identity(specs: list[dict], split: dict, data_md5: str, code: str) -> str:
    """What a checkpoint must match to be resumed: the runs, the split, the data, the code."""
    return canonical_hash({"runs": specs, "split": split, "data_md5": data_md5, "code": code})


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


def train_run(
    spec: dict,
    split: dict,
    data_path: str,
    outputs,
    threads: int,
    keep_checkpoint: bool = True,
    log_file=None,
    device: str | None = None,
    checkpoint_seconds: float = 30.0,
) -> dict:
    """``outputs`` has .history, .predictions, .provenance paths (Snakemake's output object works)."""
    return train_pack(
        [spec],
        split,
        data_path,
        [outputs],
        Path(outputs.history).parent,
        threads,
        keep_checkpoint,
        log_file,
        device,
        checkpoint_seconds,
    )[0]


def train_pack(
    specs: list[dict],
    split: dict,
    data_path: str,
    outputs: list,
    pack_dir: str | Path,
    threads: int,
    keep_checkpoint: bool = True,
    log_file=None,
    device: str | None = None,
    checkpoint_seconds: float = 30.0,
    job: dict | None = None,
    reuse_finished: bool = False,
) -> list[dict]:
    """Train the runs ``specs`` (one, or several β) together; ``outputs[b]`` has run b's
    .history, .predictions, .provenance paths; ``pack_dir`` holds the checkpoint and the lock.
    ``job``: the job that trains them, for the provenance; ``reuse_finished``: see Trainer.fit."""
    torch.set_num_threads(max(1, int(threads)))  # CPU results are bit-reproducible per thread count
    device = torch.device(device) if device else pick_device()
    data_md5, code = file_md5(data_path), code_fingerprint()
    data = load_split(data_path, split, device)
    return fit_and_write(
        specs,
        [split] * len(specs),
        data,
        outputs,
        pack_dir,
        checkpoint_identity(specs, split, data_md5, code),
        (data_path, data_md5, code, device),
        keep_checkpoint,
        log_file,
        checkpoint_seconds,
        job,
        reuse_finished,
    )


def fit_and_write(
    specs: list[dict],
    splits: list[dict],
    data,
    outputs: list,
    pack_dir: str | Path,
    identity: str,
    source: tuple,
    keep_checkpoint: bool,
    log_file,
    checkpoint_seconds: float,
    job: dict | None,
    reuse_finished: bool,
    seeds: list[int] | None = None,
) -> list[dict]:
    """Fit the pack ``specs`` (``splits[r]``: run r's split; ``data``: a Dataset, or seed → its
    Dataset) in ``pack_dir`` and write each run's outputs and provenance. ``source``: (data path,
    its md5, the code fingerprint, the device); ``seeds``: the seeds of a pack of several."""
    started = now()
    data_path, data_md5, code, device = source
    run_specs = [spec_from_dict(spec) for spec in specs]

    def log(message: str) -> None:
        print(message, file=log_file, flush=True)

    with run_lock(pack_dir), stop_on_signal() as stop_requested:
        trainer = Trainer(run_specs, data, pack_dir, device, checkpoint_seconds, identity=identity)
        trainer.stop_requested = stop_requested
        trainer.fit(log, reuse_finished)
        records = []
        for b, (spec, split, paths) in enumerate(zip(specs, splits, outputs)):
            trainer.write_outputs(Path(paths.history), Path(paths.predictions), b)
            record = provenance(
                {"run": spec, "split": split},
                run_specs[b].hash(),
                data_path,
                data_md5,
                device,
                torch.get_num_threads(),
            )
            record["started"] = started
            record["code_fingerprint"] = code
            record["resumed_from_epoch"] = trainer.resumed_from  # null: trained from scratch
            record["pack"] = (
                {
                    "betas": list(dict.fromkeys(s["beta"] for s in specs)),
                    "checkpoint": str(trainer.checkpoint_path),
                }
                | ({"seeds": seeds} if seeds else {})
                if len(specs) > 1
                else None
            )
            record["job"] = job
            record["outcome"] = trainer.outcome(b)
            write_json(paths.provenance, record)
            records.append(record)
        if not keep_checkpoint:
            trainer.checkpoint_path.unlink(missing_ok=True)
    return records


def train_seeds(
    packs: list[dict],
    data_path: str,
    outputs: list,
    threads: int,
    keep_checkpoint: bool = True,
    log_file=None,
    job: dict | None = None,
    job_dir: str | Path | None = None,
    checkpoint_seconds: float = 30.0,
    seed_pack: bool = True,
) -> list[dict]:
    """One job: the β packs of several seeds (pack_seeds) in one process, each run exactly as
    train_pack alone. ``packs[i]`` has ``specs``, ``split``, ``pack_dir``; ``outputs`` are their
    runs', seed by seed.

    Where the packs are stacked MLPs whose seeds' data agree in shape (and ``seed_pack``), every
    (seed, β) trains in one program (train.py), its checkpoint in ``job_dir``; otherwise the
    seeds train one after the other, each in its own ``pack_dir`` with its own checkpoint.

    ``job_dir/job.json`` records a job under way: in one program, that it has begun; one after the
    other, which seeds it has finished (their outputs written). A rerun of the same job (the same
    packs, data, code and threads) after a kill takes what it finished from its finished
    checkpoints instead of retraining it, and resumes the rest. The record is removed when the
    job completes, so a later rerun retrains every seed."""
    if job_dir is None and len(packs) > 1:
        raise ValueError("several seeds in one job need a job_dir for the record of finished seeds")
    if sum(len(pack["specs"]) for pack in packs) != len(outputs):
        raise ValueError(f"{len(outputs)} outputs for {sum(len(p['specs']) for p in packs)} runs")
    ledger = Path(job_dir) / "job.json" if job_dir is not None else None
    data_md5, code = file_md5(data_path), code_fingerprint()
    job_identity = {"packs": packs, "data_md5": data_md5, "code": code, "threads": threads}
    if seed_pack and len(packs) > 1:
        torch.set_num_threads(max(1, int(threads)))
        device = pick_device()
        datasets = [load_split(data_path, p["split"], device) for p in packs]
        why_not = seed_pack_obstacle(packs, datasets)
        if why_not is None:
            identity = canonical_hash({**job_identity, "seed_pack": True})
            return train_seed_pack(
                packs,
                datasets,
                outputs,
                job_dir,
                identity,
                (data_path, data_md5, code, device),
                keep_checkpoint,
                log_file,
                job,
                checkpoint_seconds,
            )
        print(f"training the seeds one after the other: {why_not}", file=log_file, flush=True)
    identity = canonical_hash(job_identity)
    finished = []
    if ledger is not None and ledger.exists():
        record = json.loads(ledger.read_text())
        if record.get("identity") == identity:
            finished = record["finished"]
    records, start = [], 0
    for pack in packs:
        runs = outputs[start : start + len(pack["specs"])]
        start += len(pack["specs"])
        records += train_pack(
            pack["specs"],
            pack["split"],
            data_path,
            runs,
            pack["pack_dir"],
            threads,
            keep_checkpoint=keep_checkpoint or ledger is not None,
            log_file=log_file,
            job=job,
            checkpoint_seconds=checkpoint_seconds,
            reuse_finished=str(pack["pack_dir"]) in finished,
        )
        if ledger is not None:
            finished.append(str(pack["pack_dir"]))
            write_json(ledger, {"identity": identity, "finished": finished})
    if ledger is not None:
        if not keep_checkpoint:  # kept until now: a killed job resumes its finished seeds
            for pack in packs:
                (Path(pack["pack_dir"]) / "checkpoint.pt").unlink(missing_ok=True)
        ledger.unlink()
    return records


def load_split(data_path: str, split: dict, device) -> Dataset:
    """The prepared data at ``data_path`` split as ``split`` (fractions, seed, fixed) says."""
    return load_dataset(
        data_path, split["fractions"], split["seed"], device, use_fixed_split=split["fixed"]
    )


def seed_pack_obstacle(packs: list[dict], datasets: list) -> str | None:
    """Why the packs of a job cannot train as one program (None: they can): that needs one β
    list, runs that differ only in seed and β, stacked MLPs and data of one shape."""
    specs = [spec_from_dict(spec) for pack in packs for spec in pack["specs"]]
    if len({spec.seed for spec in specs}) != len(packs):
        return "the packs do not hold one seed each"
    try:
        check_pack(specs)
        check_seed_data(datasets)
    except ValueError as error:
        return str(error)
    spec, data = specs[0], datasets[0]
    one = Ensemble(
        spec.arch,
        data.in_shape,
        data.out_dim,
        1,
        spec.seed,
        spec.model_options,
        execution=spec.recipe.execution,
    )
    if not isinstance(one.body, StackedMLP):
        return f"{spec.arch!r} does not run as a stacked MLP"
    return None


def train_seed_pack(
    packs: list[dict],
    datasets: list,
    outputs: list,
    job_dir: str | Path,
    identity: str,
    source: tuple,
    keep_checkpoint: bool,
    log_file,
    job: dict | None,
    checkpoint_seconds: float,
) -> list[dict]:
    """train_seeds in one program: every (seed, β) of ``packs``, the checkpoint in ``job_dir``.
    job.json (written first, removed last) says a rerun finds a job that was killed: it takes a
    finished checkpoint as it is (killed while writing the outputs) rather than retraining."""
    ledger = Path(job_dir) / "job.json"
    killed = ledger.exists() and json.loads(ledger.read_text()).get("identity") == identity
    write_json(ledger, {"identity": identity, "finished": [], "seed_pack": True})
    seeds = [pack["specs"][0]["seed"] for pack in packs]
    records = fit_and_write(
        [spec for pack in packs for spec in pack["specs"]],
        [pack["split"] for pack in packs for _ in pack["specs"]],
        dict(zip(seeds, datasets)),
        outputs,
        job_dir,
        identity,
        source,
        keep_checkpoint,
        log_file,
        checkpoint_seconds,
        job,
        reuse_finished=killed,
        seeds=seeds,
    )
    ledger.unlink()
    return records


def run_paths(run_dir: str | Path) -> SimpleNamespace:
    run_dir = Path(run_dir)
    return SimpleNamespace(
        history=str(run_dir / "history.csv"),
        predictions=str(run_dir / "predictions.npz"),
        provenance=str(run_dir / "provenance.json"),
    )
