"""One training job end to end: read data, fit (or resume), write outputs and provenance. A job
trains one run, or a pack of runs that differ in β only (train.py); either way every run gets its
own history.csv, predictions.npz and provenance.json."""

from __future__ import annotations

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


def train_run(spec: dict, split: dict, data_path: str, outputs, threads: int,
              keep_checkpoint: bool = True, log_file=None, device: str | None = None,
              checkpoint_seconds: float = 30.0) -> dict:
    """``outputs`` has .history, .predictions, .provenance paths (Snakemake's output object works)."""
    return train_pack([spec], split, data_path, [outputs], Path(outputs.history).parent, threads,
                      keep_checkpoint, log_file, device, checkpoint_seconds)[0]


def train_pack(specs: list[dict], split: dict, data_path: str, outputs: list, pack_dir: str | Path,
               threads: int, keep_checkpoint: bool = True, log_file=None, device: str | None = None,
               checkpoint_seconds: float = 30.0) -> list[dict]:
    """Train the runs ``specs`` (one, or several β) together; ``outputs[b]`` has run b's
    .history, .predictions, .provenance paths; ``pack_dir`` holds the checkpoint and the lock."""
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
        trainer.fit(log)
        records = []
        for b, (spec, paths) in enumerate(zip(specs, outputs)):
            trainer.write_outputs(Path(paths.history), Path(paths.predictions), b)
            record = provenance(
                {"run": spec, "split": split}, run_specs[b].hash(), data_path, data_md5, device,
                torch.get_num_threads(),
            )
            record["started"] = started
            record["code_fingerprint"] = code
            record["resumed_from_epoch"] = trainer.resumed_from  # null: trained from scratch
            record["pack"] = (
                {"betas": [s["beta"] for s in specs], "checkpoint": str(trainer.checkpoint_path)}
                if len(specs) > 1 else None
            )
            record["outcome"] = trainer.outcome(b)
            write_json(paths.provenance, record)
            records.append(record)
        if not keep_checkpoint:
            trainer.checkpoint_path.unlink(missing_ok=True)
    return records


def run_paths(run_dir: str | Path) -> SimpleNamespace:
    run_dir = Path(run_dir)
    return SimpleNamespace(history=str(run_dir / "history.csv"),
                           predictions=str(run_dir / "predictions.npz"),
                           provenance=str(run_dir / "provenance.json"))
