"""One training job end to end: read data, fit (or resume), write outputs and provenance."""

from __future__ import annotations

from pathlib import Path

import torch

from .data.prepared import file_md5, load_dataset
from .io import write_json
from .provenance import provenance
from .train import Recipe, RunSpec, Trainer


def spec_from_dict(spec: dict) -> RunSpec:
    return RunSpec(**{**spec, "recipe": Recipe(**spec["recipe"])})


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def train_run(spec: dict, split: dict, data_path: str, outputs, threads: int,
              keep_checkpoint: bool = True, log_file=None, device: str | None = None,
              checkpoint_seconds: float = 30.0) -> dict:
    """``outputs`` has .history, .predictions, .provenance paths (Snakemake's output object works)."""
    torch.set_num_threads(max(1, int(threads)))  # CPU results are bit-reproducible per thread count
    device = torch.device(device) if device else pick_device()
    run_spec = spec_from_dict(spec)
    data = load_dataset(
        data_path, split["fractions"], split["seed"], device, use_fixed_split=split.get("fixed", True)
    )
    run_dir = Path(outputs.history).parent
    trainer = Trainer(run_spec, data, run_dir, device, checkpoint_seconds)

    def log(message: str) -> None:
        print(message, file=log_file, flush=True)

    trainer.fit(log)
    trainer.write_outputs(Path(outputs.history), Path(outputs.predictions))
    record = provenance(
        {"run": spec, "split": split}, run_spec.hash(), data_path, file_md5(data_path),
        device, torch.get_num_threads(),
    )
    record["outcome"] = trainer.outcome()
    write_json(outputs.provenance, record)
    if not keep_checkpoint:
        trainer.checkpoint_path.unlink(missing_ok=True)
    return record
