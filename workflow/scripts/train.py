"""Snakemake adapter: train one run, or the β packs of one or several seeds (see collusion.train and collusion.runner).
Every failure reaches the log and the console, with the job it concerns."""

import sys
import time
import traceback
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # this checkout's package


class Tee:
    """The rule's log, and every attempt's log appended (a job step or a rerun deletes the rule's
    own log before it runs: a run trained in segments keeps all of them here)."""

    def __init__(self, *files):
        self.files = files

    def write(self, text):
        for f in self.files:
            f.write(text)

    def flush(self):
        for f in self.files:
            f.flush()

    def close(self):
        for f in self.files:
            f.close()


from collusion.cluster import requeue_this_job, this_job  # noqa: E402 (after the path above)

attempts = open(Path(snakemake.log[0]).with_suffix(".attempts.log"), "a", buffering=1)
attempts.write(f"== {time.strftime('%Y-%m-%d %H:%M:%S')} SLURM job {this_job() or '-'}\n")
log_file = Tee(open(snakemake.log[0], "a", buffering=1), attempts)
sys.stderr = log_file  # warnings land in the log too
try:
    from collusion.runner import train_pack, train_seeds

    params, output = snakemake.params, snakemake.output
    job = {"rule": snakemake.rule, "log": snakemake.log[0]}  # the job, in each run's provenance
    if hasattr(params, "packs"):  # packed: outputs history_<k>, predictions_<k>, provenance_<k>
        names = ("history", "predictions", "provenance")
        outputs = [
            SimpleNamespace(**{name: output[f"{name}_{k}"] for name in names})
            for k in range(len(output) // len(names))
        ]
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
    if type(error).__name__ == "StopRequested":  # collusion.train's: SLURM's time limit is near
        # SLURM ends this job as soon as it is requeued, and starts it again: no failure, no attempt
        print(f"{error}; the job requeues itself and resumes from the checkpoint", file=log_file)
        log_file.flush()
        problem = requeue_this_job()
        if problem is None:
            time.sleep(600)  # SLURM ends this job's processes long before
            problem = "SLURM did not end it within 10 minutes of the requeue"
        print(
            f"it could not ({problem}): it ends here with an error and Snakemake resubmits it "
            "(one attempt), resuming from the checkpoint",
            file=log_file,
        )
    job = f"{snakemake.rule} ({', '.join(f'{k}={v}' for k, v in snakemake.wildcards.items())})"
    print(f"training job {job} failed:", file=log_file)
    traceback.print_exc(file=log_file)
    log_file.flush()
    sys.stderr = sys.__stderr__
    print(
        f"training job {job} failed: {type(error).__name__}: {error} (log: {snakemake.log[0]})",
        file=sys.stderr,
    )
    raise
finally:
    sys.stderr = sys.__stderr__
    log_file.close()
