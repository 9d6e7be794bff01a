"""Snakemake adapter: run one training job (collusion.job.train; the rule builds the job,
collusion.plan). Every failure reaches the log and the console, with the job it concerns."""

import sys
import time
import traceback
from pathlib import Path

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
    from collusion.job import train
    from collusion.spec import TrainingJob

    job = TrainingJob.from_dict(
        {
            **snakemake.params.job.value,  # collusion.plan.hidden
            "threads": snakemake.threads,
            # the job, in each run's provenance
            "origin": {
                "rule": snakemake.rule,
                "log": snakemake.log[0],
                "identity": snakemake.params.identity,  # what reruns it (collusion.plan)
            },
        }
    )
    train(job, log_file, console=sys.__stderr__)  # progress lines: on the console
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
    wildcards = ", ".join(f"{k}={v}" for k, v in snakemake.wildcards.items())
    which = snakemake.rule + (f" ({wildcards})" if wildcards else "")
    print(f"training job {which} failed:", file=log_file)
    traceback.print_exc(file=log_file)
    log_file.flush()
    sys.stderr = sys.__stderr__
    print(
        f"training job {which} failed: {type(error).__name__}: {error} (log: {snakemake.log[0]})",
        file=sys.stderr,
    )
    raise
finally:
    sys.stderr = sys.__stderr__
    log_file.close()
