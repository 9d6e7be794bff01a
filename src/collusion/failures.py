"""What the Snakefile's `onerror:` handler prints: for every failed job (grouped or not) what the
SLURM executor said about it (sbatch's reason for refusing the actual submission, with that
submission's options; SLURM's final state), every attempt's SLURM job and log, and how the logs
end, so the cause shows in the run that submitted it. A cause that was not kept is said to be
unknown, with where to look. torch-free."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

# the SLURM executor plugin's lines (snakemake-executor-plugin-slurm 2.x), one per submission
SUBMITTED = re.compile(
    r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (\S+?)\)\.?$", re.M
)
ARRAY_SUBMITTED = re.compile(
    r"Submitted array job with Snakemake IDs ([\d,]+) and SLURM job ID (\d+)\. "
    r"The individual task IDs are (\d+)-(\d+)\."
)
# ... its messages for a failed job, and for an array that sbatch refused (in the run's log)
SBATCH_REFUSED = re.compile(r"SLURM sbatch failed\. The error message was '(.*?)'\.\n", re.S)
ARRAY_PART = re.compile(r"Part of failed array sbatch submission \(tasks (\d+-\d+)\)")
ARRAY_REFUSED = re.compile(
    r"SLURM sbatch failed for array job submission \(tasks (\d+-\d+)\)\. "
    r"The error message was '(.*?)'\.\n\s*sbatch call:\n\s*(.*)"
)
SBATCH_CALL = re.compile(r"sbatch call:\n\s*(.*)")
SLURM_STATES = re.compile(r"SLURM-job '([\d_]+)' failed, SLURM status is: '(\w+)'")


@dataclass
class FailedJob:
    name: str  # "rule train" or "group train_cpu"
    jobid: str  # Snakemake's id of the job, as the plugin's submission line names it
    logs: list[str] = field(default_factory=list)  # the rules' own log files
    messages: list[str] = field(default_factory=list)  # what the executor reported, per attempt


def sbatch_options(call: str) -> str:
    """An sbatch call without its --wrap command (the snakemake command line the job runs)."""
    return call.split(" --wrap=", 1)[0].strip()


def executor_said(messages: list[str], main_log: str) -> list[str]:
    """The executor's messages about one job, one or two lines each, every distinct one once:
    sbatch's reason for refusing it and the options of that submission (for an array, of the
    array it was in), or SLURM's state."""
    out = []
    for message in messages:
        refused, part = SBATCH_REFUSED.search(message), ARRAY_PART.search(message)
        if refused:
            out.append(f"sbatch refused it: {refused.group(1).strip()}")
            call = SBATCH_CALL.search(message)
            if call:
                out.append(f"   the submission: {sbatch_options(call.group(1))}")
        elif part:
            arrays = [a for a in ARRAY_REFUSED.findall(main_log) if a[0] == part.group(1)]
            for tasks, reason, call in arrays:
                out.append(f"sbatch refused the array it was in (tasks {tasks}): {reason.strip()}")
                out.append(f"   the submission: {sbatch_options(call)}")
            if not arrays:
                out.append(f"{message.strip()} (not found in the run's log)")
        else:
            out.append(message.strip().splitlines()[0])
    return list(dict.fromkeys(out))


def array_tasks(main_log: str) -> dict[str, list[str]]:
    """Snakemake job id -> its SLURM array task ids (<array job>_<task>)."""
    tasks: dict[str, list[str]] = {}
    for ids, array, first, _last in ARRAY_SUBMITTED.findall(main_log):
        for index, jobid in enumerate(ids.split(","), start=int(first)):
            tasks.setdefault(jobid, []).append(f"{array}_{index}")
    return tasks


def tail(path: str | Path, lines: int) -> list[str]:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as error:
        return [f"(cannot be read: {error.strerror})"]
    return text.rstrip("\n").splitlines()[-lines:] or ["(empty)"]


def failure_report(
    jobs: list[FailedJob],
    main_log: str,
    slurm: bool,
    slurm_logdir: str | Path = "logs/slurm",
    main_log_path: str = "the run's log (.snakemake/log/)",
    lines: int = 15,
) -> str:
    """The report for ``jobs``; ``main_log`` is Snakemake's own log of this run (its text);
    ``slurm``: the run submitted its jobs to SLURM, whose logs are under ``slurm_logdir``."""
    submissions: dict[str, list[tuple[str, str]]] = {}
    for jobid, slurm_id, path in SUBMITTED.findall(main_log):
        submissions.setdefault(jobid, []).append((slurm_id, path))
    for jobid, task_ids in array_tasks(main_log).items():
        for task in task_ids:  # the plugin writes an array task's log as <rule dir>/<task>.log
            rule = next((j.name.split()[-1] for j in jobs if j.jobid == jobid), "")
            submissions.setdefault(jobid, []).append(
                (task, str(Path(slurm_logdir) / f"rule_{rule}" / f"{task}.log"))
            )
    out = [f"{len(jobs)} job(s) failed; their logs:"]
    for job in jobs:
        out.append(f"== {job.name} ==")
        said = executor_said(job.messages, main_log)
        states = dict(SLURM_STATES.findall(main_log + "\n".join(job.messages)))
        attempts = submissions.get(job.jobid, [])
        for slurm_id, path in attempts:
            state = f", SLURM state {states[slurm_id]}" if slurm_id in states else ""
            out.append(f"SLURM job {slurm_id}{state}: log {path}")
        out += said
        if attempts:
            slurm_id, path = attempts[-1]
            out.append(f"-- last {lines} lines of {path} (SLURM job {slurm_id}):")
            out += ["   " + line for line in tail(path, lines)]
        elif slurm and not said:
            out.append(
                "no SLURM job was created for it, and why was not kept: look for 'sbatch' in "
                f"{main_log_path}, or rerun with --verbose, which prints every sbatch call"
            )
        for log in job.logs:
            if Path(log).exists():
                out.append(f"-- last {lines} lines of {log}:")
                out += ["   " + line for line in tail(log, lines)]
            else:
                out.append(
                    f"-- {log}: not written (the job did not start, or failed before its rule ran)"
                )
    return "\n".join(out)
