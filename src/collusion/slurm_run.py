"""The run that submits jobs with `snakemake --profile slurm`: what the Snakefile's onstart checks
before anything is submitted, and where it adapts the SLURM executor plugin
(snakemake-executor-plugin-slurm 2.x) to this workflow:

- job states: without SLURM accounting, sacct (the plugin's default status command) never sees a
  job end and the run would wait until killed;
- GPUs: a GPU job on a cluster without that GPU is refused at submission, one job after another;
- the cause of every failure: Snakemake prints the executor's message (sbatch's reason for refusing
  a job, SLURM's final state) for a single job but drops it for a group job; every message is kept
  here, per job, for the onerror report (collusion.failures);
- no account guess: without an account the plugin guesses one with `sacct ... | tail -1`, run
  without a shell, which fails on every cluster and prints `sacct: invalid option`; jobs are then
  submitted without --account (SLURM's default account) unless partitions.yaml names one;
- the efficiency report (the profile's slurm-efficiency-report) needs SLURM accounting: off, with a
  note, where sacct cannot answer (the plugin would log an error at the end of the run);
- stopping: SIGTERM ends the run as Ctrl-C does (its SLURM jobs cancelled, its lock released);
  Snakemake's own SIGTERM handler waits for every running job, and the plugin's status thread
  sleeps up to 3 minutes between queries, which the run waits out before it ends;
- arrays: jobs of one rule go into one array only when their requests are the same (the plugin
  gives every task the first job's), and at once (the plugin waits for every ready job of the rule
  and never submits a job it set aside while waiting); a job that asks for SLURM's warning signal
  (a run in segments) never, because the plugin runs an array's first task outside any job step,
  where that signal (sent to job steps) does not reach it.

Each adaptation touches one documented method or attribute of the plugin's executor and is skipped,
with a note, where a later plugin version no longer has it. torch-free.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import defaultdict

from collusion import cluster

# the executor's report_job_error messages, per Snakemake job id (a group job's too)
JobErrors = dict[str, list[str]]


def planned_gpus(jobs) -> list[tuple[int, str | None]]:
    """(count, model) of every planned job that asks for a GPU, from its resources: ``gpu`` (with
    ``gpu_model``) or ``gres`` (gpu:[model:]N)."""
    requests = []
    for job in jobs:
        resources = job.resources
        gpu = resources.get("gpu") or 0
        if isinstance(gpu, int) and gpu > 0:
            model = resources.get("gpu_model")
            requests.append((gpu, model if isinstance(model, str) else None))
            continue
        gres = cluster.node_gpus(str(resources.get("gres") or ""))
        requests += [(count, model) for model, count in gres.items()]
    return requests


def start_problems(status_command: str | None, gpu_requests, gpu_request: str) -> list[str]:
    """Why the run cannot work on this cluster, each with its fix; empty: it can.
    ``gpu_requests``: planned_gpus; ``gpu_request``: the cluster file's (gpu or gres)."""
    problems = []
    if status_command == "sacct":
        problem = cluster.sacct_problem()
        if problem:
            problems.append(
                f"SLURM job states cannot be queried with sacct here ({problem}); add "
                "--slurm-status-command squeue (see profiles/README.md, Status queries)"
            )
    nodes = cluster.cluster_gpus()
    problem = cluster.gpu_problem(gpu_requests, nodes) if nodes is not None else None
    if problem:
        cpu = "train:gpu=0" if gpu_request == "gpu" else "train:gres=''"
        problems.append(
            f"{problem}. Fix: run them on a cluster with such GPUs (partitions.yaml: "
            "workflow.gpu_model, gpu_request); or train them on CPUs, far slower, with "
            f"--set-resources {cpu}; or leave their experiments out of the configuration"
        )
    return problems


def keep_job_errors(executor, errors: JobErrors) -> None:
    """Keep every message the executor reports for a failed job (see the module's docstring)."""
    report = executor.report_job_error

    def report_and_keep(job_info, msg=None, **kwargs):
        if msg:
            errors.setdefault(str(job_info.job.jobid), []).append(str(msg))
        return report(job_info, msg=msg, **kwargs)

    executor.report_job_error = report_and_keep


def stop_quickly(executor) -> None:
    """SIGTERM as Ctrl-C (Snakemake cancels the SLURM jobs, ends the run and releases its lock),
    and a status thread that wakes within a second once the run ends."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    async def sleep():
        until = time.monotonic() + executor.next_seconds_between_status_checks
        while executor.wait and time.monotonic() < until:
            await asyncio.sleep(min(1.0, until - time.monotonic()))

    executor.sleep = sleep


def request_of(job) -> tuple:
    """What one job asks of SLURM (every resource, its threads): jobs share an array only when
    this is the same."""
    return (job.threads, tuple(sorted((k, str(v)) for k, v in job.resources.items())))


def whole_arrays(executor, array_rules: set[str]) -> None:
    """Ready jobs of an array rule are submitted now: several with the same request as one array,
    one alone, and alone those that wait for SLURM's warning signal; group jobs and other rules'
    jobs as the plugin does (see the module's docstring)."""
    plugin_run_jobs = executor.run_jobs

    def run_jobs(jobs):
        arrays, alone, others = defaultdict(list), [], []
        for job in jobs:
            if job.is_group() or not ({"all", job.rule.name} & array_rules):
                others.append(job)
            elif "--signal" in str(job.resources.get("slurm_extra") or ""):
                alone.append(job)
            else:
                arrays[(job.rule.name, request_of(job))].append(job)
        plugin_run_jobs(others)
        for same in arrays.values():
            if len(same) > 1:
                executor._submit_array_jobs(same)
            else:
                alone += same
        for job in alone:
            executor._submit_job(job)

    executor.run_jobs = run_jobs


def adapt(executor, settings, has_account: bool, errors: JobErrors) -> list[str]:
    """Adapt the plugin's ``executor`` (see the module's docstring); ``settings``: its executor
    settings; ``has_account``: jobs name an account (the cluster file's, or a rule's). Returns
    notes for the log."""
    needed = {
        "report_job_error": "the failure report prints no cause for group jobs",
        "sleep": "a stopped run waits for the next status query",
        "_fallback_account_arg": "the plugin guesses an account",
        "_submit_job": "arrays as the plugin makes them",
        "_submit_array_jobs": "arrays as the plugin makes them",
    }
    missing = [
        f"{name} ({effect})" for name, effect in needed.items() if not hasattr(executor, name)
    ]
    if missing:
        return [f"this SLURM executor plugin lacks {', '.join(missing)}: not adapted"]
    notes = []
    keep_job_errors(executor, errors)
    stop_quickly(executor)
    if not has_account:
        executor._fallback_account_arg = ""  # no guess: sbatch without --account
    if getattr(settings, "efficiency_report", False):
        problem = cluster.sacct_problem()
        if problem:
            settings.efficiency_report = False
            notes.append(
                f"SLURM efficiency report: off, it needs SLURM accounting and sacct says: {problem}"
            )
    array_rules = getattr(executor, "array_jobs", set())
    if array_rules:
        whole_arrays(executor, array_rules)
    return notes
