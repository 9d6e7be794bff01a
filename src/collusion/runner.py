"""One training job end to end: read data, fit (or resume), write outputs and provenance. A job
trains one run, or a pack of runs that differ in β only (train.py); either way every run gets its
own history.csv, predictions.npz and provenance.json."""

from __future__ import annotations

import json
import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import torch

from .data.prepared import file_md5, load_dataset
from .fingerprint import code_fingerprint
from .io import run_lock, write_json
from .provenance import now, provenance
from .train import Recipe, RunSpec, Trainer, canonical_hash


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
    started = now()
    torch.set_num_threads(max(1, int(threads)))  # CPU results are bit-reproducible per thread count
    device = torch.device(device) if device else pick_device()
    run_specs = [spec_from_dict(spec) for spec in specs]
    data_md5 = file_md5(data_path)
    data = load_dataset(
        data_path, split["fractions"], split["seed"], device, use_fixed_split=split["fixed"]
    )
    code = code_fingerprint()
    identity = checkpoint_identity(specs, split, data_md5, code)

    def log(message: str) -> None:
        print(message, file=log_file, flush=True)

    with run_lock(pack_dir), stop_on_signal() as stop_requested:
        trainer = Trainer(run_specs, data, pack_dir, device, checkpoint_seconds, identity=identity)
        trainer.stop_requested = stop_requested
        trainer.fit(log, reuse_finished)
        records = []
        for b, (spec, paths) in enumerate(zip(specs, outputs)):
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
                {"betas": [s["beta"] for s in specs], "checkpoint": str(trainer.checkpoint_path)}
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
) -> list[dict]:
    """One job: the β packs of several seeds one after the other in one process (pack_seeds), each
    exactly as train_pack alone, in its own ``pack_dir`` with its own checkpoint. ``packs[i]`` has
    ``specs``, ``split``, ``pack_dir``; ``outputs`` are their runs', seed by seed.

    ``job_dir/job.json`` records which seeds this job has finished (their outputs written); a rerun
    of the same job (the same packs, data, code and threads) after a kill takes those seeds from
    their finished checkpoints instead of retraining them, and resumes the one it was in. The
    record is removed when the job completes, so a later rerun retrains every seed."""
    if job_dir is None and len(packs) > 1:
        raise ValueError("several seeds in one job need a job_dir for the record of finished seeds")
    if sum(len(pack["specs"]) for pack in packs) != len(outputs):
        raise ValueError(f"{len(outputs)} outputs for {sum(len(p['specs']) for p in packs)} runs")
    ledger = Path(job_dir) / "job.json" if job_dir is not None else None
    identity = canonical_hash(
        {
            "packs": packs,
            "data_md5": file_md5(data_path),
            "code": code_fingerprint(),
            "threads": threads,
        }
    )
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


def run_paths(run_dir: str | Path) -> SimpleNamespace:
    run_dir = Path(run_dir)
    return SimpleNamespace(
        history=str(run_dir / "history.csv"),
        predictions=str(run_dir / "predictions.npz"),
        provenance=str(run_dir / "provenance.json"),
    )
