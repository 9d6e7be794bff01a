"""Snakemake adapter: train one run, or the β packs of one or several seeds (see collusion.train and collusion.runner).
Every failure reaches the log and the console, with the job it concerns."""

import sys
import traceback
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # this checkout's package

log_file = open(snakemake.log[0], "a", buffering=1)
sys.stderr = log_file  # warnings land in the log too
try:
    from collusion.runner import train_pack, train_seeds

    params, output = snakemake.params, snakemake.output
    job = {"rule": snakemake.rule, "log": snakemake.log[0]}  # the job, in each run's provenance
    if hasattr(params, "packs"):  # packed: outputs history_<k>, predictions_<k>, provenance_<k>
        names = ("history", "predictions", "provenance")
        outputs = [SimpleNamespace(**{name: output[f"{name}_{k}"] for name in names})
                   for k in range(len(output) // len(names))]
        train_seeds(
            packs=params.packs,
            data_path=snakemake.input.data,
            outputs=outputs,
            threads=snakemake.threads,
            keep_checkpoint=params.keep_checkpoint,
            log_file=log_file,
            job=job,
            job_dir=params.job_dir,
        )
    else:  # one run: its directory holds the checkpoint
        train_pack(
            specs=[params.spec],
            split=params.split,
            data_path=snakemake.input.data,
            outputs=[output],
            pack_dir=Path(output.history).parent,
            threads=snakemake.threads,
            keep_checkpoint=params.keep_checkpoint,
            log_file=log_file,
            job=job,
        )
except BaseException as error:
    job = f"{snakemake.rule} ({', '.join(f'{k}={v}' for k, v in snakemake.wildcards.items())})"
    print(f"training job {job} failed:", file=log_file)
    traceback.print_exc(file=log_file)
    log_file.flush()
    sys.stderr = sys.__stderr__
    print(f"training job {job} failed: {type(error).__name__}: {error} (log: {snakemake.log[0]})",
          file=sys.stderr)
    raise
finally:
    sys.stderr = sys.__stderr__
    log_file.close()
