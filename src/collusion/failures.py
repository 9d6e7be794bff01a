"""What the Snakefile's `onerror:` handler prints: for every failed job (grouped or not) where its
logs are and how they end, so the cause (a Python traceback, SLURM's time limit or out-of-memory
kill, an sbatch rejection) shows in the run that submitted it. torch-free."""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

# the SLURM executor plugin's line for every submission (one per attempt)
SUBMITTED = re.compile(
    r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (\S+?)\)\.?$", re.M
)
SBATCH_FAILED = re.compile(r"SLURM sbatch failed\. The error message was '(.*?)'", re.S)
SLURM_STATES = re.compile(r"SLURM-job '(\d+)' failed, SLURM status is: '(\w+)'")


@dataclass
class FailedJob:
    name: str  # "rule train" or "group train_cpu"
    jobid: str  # as the plugin's submission line names it
    logs: list[str] = field(default_factory=list)  # the rules' own log files
    resources: dict = field(default_factory=dict)  # what it asked SLURM for


def sbatch_test_only(resources: dict) -> list[str]:
    """Ask sbatch, without submitting (--test-only), about a request like the job's (time, memory,
    CPUs, GPUs, account, extra options; the plugin's partition choice is not known here): what
    sbatch answers is its reason for refusing the job."""
    flags = {
        "runtime": "--time",
        "mem_mb": "--mem",
        "_cores": "--cpus-per-task",
        "gres": "--gres",
        "slurm_account": "--account",
    }
    call = ["sbatch", "--test-only", "--wrap", "true"]
    call += [f"{flag}={resources[key]}" for key, flag in flags.items() if resources.get(key)]
    if resources.get("gpu"):
        model = resources.get("gpu_model")
        call.append(f"--gpus={model}:{resources['gpu']}" if model else f"--gpus={resources['gpu']}")
    call += shlex.split(str(resources.get("slurm_extra") or ""))
    try:
        result = subprocess.run(call, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return [f"(could not ask sbatch: {error})"]
    answer = (result.stderr + result.stdout).strip().splitlines()
    return [f"`{shlex.join(call)}` says:"] + ["   " + line for line in answer]


def tail(path: str | Path, lines: int) -> list[str]:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as error:
        return [f"(cannot be read: {error.strerror})"]
    return text.rstrip("\n").splitlines()[-lines:] or ["(empty)"]


def failure_report(jobs: list[FailedJob], main_log: str, slurm: bool, lines: int = 15) -> str:
    """The report for ``jobs``; ``main_log`` is Snakemake's own log of this run (its text);
    ``slurm``: the run submitted its jobs to SLURM."""
    submissions: dict[str, list[tuple[str, str]]] = {}
    for jobid, slurm_id, path in SUBMITTED.findall(main_log):
        submissions.setdefault(jobid, []).append((slurm_id, path))
    states = dict(SLURM_STATES.findall(main_log))
    out = [f"{len(jobs)} job(s) failed; their logs:"]
    for job in jobs:
        out.append(f"== {job.name} ==")
        attempts = submissions.get(job.jobid, [])
        for slurm_id, path in attempts:
            state = f", SLURM state {states[slurm_id]}" if slurm_id in states else ""
            out.append(f"SLURM job {slurm_id}{state}: log {path}")
        if attempts:
            slurm_id, path = attempts[-1]
            out.append(f"-- last {lines} lines of {path} (SLURM job {slurm_id}):")
            out += ["   " + line for line in tail(path, lines)]
        elif slurm:
            out.append("no SLURM job was created for it: sbatch refused the submission")
            for reason in SBATCH_FAILED.findall(main_log):
                out.append(f"sbatch said: {reason.strip()}")
            if job.resources:
                out += sbatch_test_only(job.resources)
        for log in job.logs:
            if Path(log).exists():
                out.append(f"-- last {lines} lines of {log}:")
                out += ["   " + line for line in tail(log, lines)]
            else:
                out.append(
                    f"-- {log}: not written (the job did not start, or failed before its rule ran)"
                )
    return "\n".join(out)
