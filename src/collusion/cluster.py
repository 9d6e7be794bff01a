"""The cluster a SLURM run submits to, as profiles/slurm/partitions.yaml describes it, and what that
means for a training job's resources: the runtime request capped at the partitions' time limits
(a partition without one is unlimited), SLURM's warning signal before that limit, how a GPU is
asked for (``gpu`` or ``gres``, with or without a model); the account, which the Snakefile gives
every rule; and what the submitting run checks at start: that job states can be queried, that
the GPUs its jobs ask for exist.

A training job longer than the cap runs in segments: the SLURM job trains until the warning signal
(``--signal=USR1@<signal_seconds>``), saves its checkpoint and puts itself back in the queue
(``scontrol requeue``, :func:`requeue_this_job`); SLURM starts it again and it resumes from the
checkpoint. Snakemake sees one job that runs for longer: a segment is no failure and uses no
attempt, so a run that makes progress always finishes. torch-free: read while the Snakefile is
parsed.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

# the keys of the file's `workflow:` section (the plugin reads only `partitions:`)
WORKFLOW_KEYS = {"gpu_request", "gpu_model", "account", "signal_seconds"}
GPU_REQUESTS = ("gpu", "gres")
# what profiles/slurm gives every job (retries: 2); the training rules add a segment's worth of
# attempts for runs longer than the cap, used only where the cluster refuses `scontrol requeue`
FAILURE_RETRIES = 2


class ClusterFileError(ValueError):
    pass


@dataclass(frozen=True)
class Cluster:
    """Partition time limits (minutes; math.inf: unlimited) and GPU counts, and the workflow keys."""

    max_runtime: dict[str, float] = field(default_factory=dict)
    max_gpu: dict[str, int] = field(default_factory=dict)
    gpu_request: str = "gpu"
    gpu_model: str | None = None
    account: str | None = None
    signal_seconds: int = 600

    def cap(self, gpu: int) -> float:
        """The longest runtime (minutes) a job asking for ``gpu`` GPUs can request: the largest
        max_runtime among the partitions that can take it (the plugin picks among those)."""
        fitting = [name for name in self.max_gpu if self.max_gpu[name] >= gpu]
        if not fitting:
            return math.inf
        return max(self.max_runtime.get(name, math.inf) for name in fitting)

    def segments(self, minutes: float, gpu: int) -> int:
        """Segments (starts of its SLURM job) a training job of ``minutes`` needs: each trains for
        the cap less the warning before it."""
        cap = self.cap(gpu)
        if minutes <= cap:
            return 1
        return math.ceil(minutes / (cap - self.signal_seconds / 60))

    def train_resources(self, minutes: float, gpu: int, attempt: int) -> dict:
        """A training job's SLURM resources at ``attempt``: runtime grows with the attempt up to the
        cap (a job slower than expected gets more time); the GPU request; and, for a job expected
        to outlast the cap (trained in segments), SLURM's warning signal. A job expected to fit gets
        no signal (its time limit may be shorter than signal_seconds): if it overruns, SLURM ends
        it and the next attempt, with more time, resumes from its last periodic checkpoint."""
        runtime = min(math.ceil(minutes) * attempt, self.cap(gpu))
        resources = {"runtime": int(runtime), "gpu": 0}
        if self.segments(minutes, gpu) > 1:
            resources["slurm_extra"] = f"--signal=USR1@{self.signal_seconds}"
        if gpu and self.gpu_request == "gres":
            resources["gres"] = f"gpu:{self.gpu_model}:{gpu}" if self.gpu_model else f"gpu:{gpu}"
        elif gpu:
            resources["gpu"] = gpu
            if self.gpu_model:
                resources["gpu_model"] = self.gpu_model
        return resources


def minutes(value, where: str) -> float:
    """A max_runtime in minutes: a number, or SLURM's time format (M, M:S, H:M:S, D-H, D-H:M,
    D-H:M:S)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    days, dash, clock = text.rpartition("-")
    try:
        parts = [int(p) for p in clock.split(":")]
        day = int(days) if dash else 0
    except ValueError:
        parts = []
    if dash and 1 <= len(parts) <= 3:  # D-H[:M[:S]]
        hours, mins, secs = (parts + [0, 0])[:3]
    elif not dash and len(parts) == 1:  # M
        hours, mins, secs = 0, parts[0], 0
    elif not dash and len(parts) == 2:  # M:S
        hours, (mins, secs) = 0, parts
    elif not dash and len(parts) == 3:  # H:M:S
        hours, mins, secs = parts
    else:
        raise ClusterFileError(
            f"{where}: {value!r} is not a time; give minutes (2880) or SLURM's D-HH:MM:SS (2-00:00:00)"
        )
    return day * 1440 + hours * 60 + mins + secs / 60


def read_cluster(path: str | Path) -> Cluster:
    """The cluster file (profiles/slurm/partitions.yaml); errors name the key and the fix."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ClusterFileError(f"{path}: cannot be read ({error})") from None
    partitions = data.get("partitions")
    if not isinstance(partitions, dict) or not partitions:
        raise ClusterFileError(f"{path}: needs a `partitions:` mapping with at least one partition")
    max_runtime, max_gpu = {}, {}
    for name, limits in partitions.items():
        limits = limits or {}
        max_runtime[name] = (
            minutes(limits["max_runtime"], f"{path}: partitions.{name}.max_runtime")
            if "max_runtime" in limits
            else math.inf  # no MaxTime (generate-slurm-partition-config leaves UNLIMITED out)
        )
        max_gpu[name] = int(limits.get("max_gpu", 0))
    settings = data.get("workflow") or {}
    unknown = set(settings) - WORKFLOW_KEYS
    if unknown:
        raise ClusterFileError(
            f"{path}: unknown key(s) workflow.{', workflow.'.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(WORKFLOW_KEYS))}"
        )
    cluster = Cluster(max_runtime=max_runtime, max_gpu=max_gpu, **settings)
    if cluster.gpu_request not in GPU_REQUESTS:
        raise ClusterFileError(
            f"{path}: workflow.gpu_request is {cluster.gpu_request!r}; allowed: gpu (sbatch --gpus) "
            "or gres (sbatch --gres=gpu:...)"
        )
    if not isinstance(cluster.signal_seconds, int) or cluster.signal_seconds < 60:
        raise ClusterFileError(
            f"{path}: workflow.signal_seconds is {cluster.signal_seconds!r}; give whole seconds "
            "≥ 60 (SLURM may send the signal up to 60 s early), longer than one training period"
        )
    for name, limit in max_runtime.items():
        if limit * 60 <= cluster.signal_seconds:
            raise ClusterFileError(
                f"{path}: partitions.{name}.max_runtime ({limit:g} min) is not longer than "
                f"workflow.signal_seconds ({cluster.signal_seconds} s): a job there could not train; "
                "lower signal_seconds or raise max_runtime"
            )
    return cluster


def sacct_problem() -> str | None:
    """Why ``sacct`` cannot report job states here (None: it can). Without SLURM accounting it
    fails, and a run whose status command is sacct waits forever for its jobs to finish."""
    try:
        result = subprocess.run(
            ["sacct", "-n", "-X", "-o", "JobID"], capture_output=True, text=True, timeout=60
        )
    except FileNotFoundError:
        return "sacct is not installed"
    except subprocess.TimeoutExpired:
        return "sacct did not answer within 60 s"
    if result.returncode != 0:
        return (result.stderr or result.stdout).strip() or f"sacct exited with {result.returncode}"
    return None


# One node's generic resources as `sinfo -o %G` prints them: gpu:2, gpu:a100:4(S:0-1), gpu:v100:2,...
GPU_GRES = re.compile(r"\bgpu(?::([A-Za-z][\w.-]*))?:(\d+)")


def node_gpus(gres: str) -> dict[str | None, int]:
    """GPU model (None: untyped) -> count, from the GRES of one node (``sinfo -N -o %G``)."""
    gpus: dict[str | None, int] = {}
    for model, count in GPU_GRES.findall(gres):
        gpus[model or None] = gpus.get(model or None, 0) + int(count)
    return gpus


def cluster_gpus() -> list[dict[str | None, int]] | None:
    """Every node's GPUs (``sinfo -h -N -o %G``); None when sinfo cannot say."""
    try:
        result = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%G"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    return [node_gpus(line) for line in result.stdout.splitlines()]


def gpu_problem(requests: list[tuple[int, str | None]], nodes: list[dict]) -> str | None:
    """Why SLURM would refuse the planned GPU jobs, (count, model) each, on a cluster whose nodes
    have ``nodes`` (cluster_gpus); None if some node could run each of them."""
    asked = [(count, model) for count, model in requests if count > 0]
    if not asked:
        return None
    if not any(nodes):
        return (
            f"{len(asked)} job(s) ask for a GPU, but no node of this cluster has one (`sinfo -N -o "
            "%G` lists no gpu): SLURM would refuse every one of them"
        )
    for count, model in sorted(set(asked), key=str):
        fits = any(
            (sum(gpus.values()) if model is None else gpus.get(model, 0)) >= count for gpus in nodes
        )
        if not fits:
            have = sorted({f"{m or 'gpu'}:{n}" for gpus in nodes for m, n in gpus.items()})
            what = f"{count} GPU(s)" + (f" of model {model}" if model else "")
            return (
                f"jobs ask for {what}, which no node of this cluster has (its nodes have "
                f"{', '.join(have)}): SLURM would refuse them"
            )
    return None


def this_job() -> str | None:
    """The SLURM job this process runs in, as scontrol names it: <array>_<task> for an array task
    (its own job id can equal the array's, which would name every task), else the job id."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID")


def requeue_this_job() -> str | None:
    """Put the SLURM job this process runs in back in the queue (``scontrol requeue``): SLURM ends
    it and starts it again, and training resumes from its checkpoint. None when done, else why not
    (not in a SLURM job; the cluster forbids it)."""
    job = this_job()
    if not job:
        return "not inside a SLURM job"
    try:
        result = subprocess.run(
            ["scontrol", "requeue", job], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"scontrol requeue {job}: {error}"
    if result.returncode != 0:
        answer = (result.stderr or result.stdout).strip()
        return f"scontrol requeue {job}: {answer or f'exit status {result.returncode}'}"
    return None
