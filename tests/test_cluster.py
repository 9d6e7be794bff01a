"""The cluster file (profiles/slurm/partitions.yaml) and what it does to training jobs: runtime
requests capped at the partitions' time limits, segments for longer runs, the GPU request, and
the training job that saves its checkpoint and stops on SLURM's warning signal (issue 16); what the
submitting run checks at start and prints when jobs fail (issue 27)."""

import io
import math
import os
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from collusion.cluster import (
    Cluster,
    ClusterFileError,
    gpu_problem,
    minutes,
    node_gpus,
    read_cluster,
)
from collusion.data.prepared import save_prepared
from collusion.job import train as train_job
from collusion.spec import TrainingJob
from collusion.train import StopRequested

REPO = Path(__file__).resolve().parents[1]
PROFILE_FILE = REPO / "profiles" / "slurm" / "partitions.yaml"


def write(tmp_path, data) -> Path:
    path = tmp_path / "partitions.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_profile_file_reads_and_the_plugin_accepts_it():
    cluster = read_cluster(PROFILE_FILE)
    assert cluster.max_runtime and all(limit < math.inf for limit in cluster.max_runtime.values())
    assert any(gpus > 0 for gpus in cluster.max_gpu.values()), "no partition takes GPU jobs"
    plugin = pytest.importorskip("snakemake_executor_plugin_slurm.partitions")
    names = [p.name for p in plugin.read_partition_file(PROFILE_FILE)]  # ignores `workflow:`
    assert names == list(yaml.safe_load(PROFILE_FILE.read_text())["partitions"])


@pytest.mark.parametrize(
    "text, expected",
    [
        (90, 90),
        ("90", 90),
        ("1:30", 1.5),
        ("1:30:00", 90),
        ("2-00:00:00", 2880),
        ("1-12", 2160),
        ("1-00:30", 1470),
    ],
)
def test_max_runtime_in_minutes_or_slurm_time(text, expected):
    assert minutes(text, "here") == pytest.approx(expected)


@pytest.mark.parametrize("text", ["two days", "1:2:3:4", True])
def test_a_bad_time_names_the_key(text):
    with pytest.raises(ClusterFileError, match="partitions.cpu.max_runtime"):
        minutes(text, "partitions.cpu.max_runtime")


def test_cap_is_the_longest_limit_of_the_partitions_that_can_take_the_job():
    cluster = Cluster(
        max_runtime={"short": 60, "long": 1440, "gpu": 720},
        max_gpu={"short": 0, "long": 0, "gpu": 2},
    )
    assert cluster.cap(0) == 1440
    assert cluster.cap(1) == 720 and cluster.cap(2) == 720
    assert (
        cluster.cap(3) == math.inf
    )  # no partition has 3: left to the plugin (and sbatch) to refuse
    assert Cluster().cap(1) == math.inf  # no limits known


def test_a_partition_without_a_time_limit_counts_as_unlimited(tmp_path):
    """Issue 27: `long` (no MaxTime, so no max_runtime) was left out of the cap, and CPU training
    was capped at `short`'s 20 minutes: a 47-minute run went in 5 segments."""
    cluster = read_cluster(
        write(tmp_path, {"partitions": {"short": {"max_runtime": 20}, "long": {}}})
    )
    assert cluster.cap(0) == math.inf
    assert cluster.segments(47, 0) == 1
    assert cluster.train_resources(47, 0, 1) == {"runtime": 47, "gpu": 0}
    gpu = Cluster(
        max_runtime={"short": 20, "long": math.inf, "gpu": 60},
        max_gpu={"short": 0, "long": 0, "gpu": 1},
    )
    assert gpu.cap(0) == math.inf and gpu.cap(1) == 60


def test_runtime_grows_with_the_attempt_up_to_the_cap_and_segments_count_the_jobs():
    cluster = Cluster(max_runtime={"gpu": 600}, max_gpu={"gpu": 1}, signal_seconds=600)
    # a 250-minute run: 250, 500, then the cap
    assert [cluster.train_resources(250, 1, a)["runtime"] for a in (1, 2, 3)] == [250, 500, 600]
    assert cluster.segments(250, 1) == 1
    # a 4,060-minute run (the paper's DenseNet-121): 590 minutes of training per 600-minute job
    assert cluster.train_resources(4060, 1, 1)["runtime"] == 600
    assert cluster.segments(4060, 1) == math.ceil(4060 / 590) == 7
    assert cluster.segments(600, 1) == 1 and cluster.segments(601, 1) == 2


def test_gpu_request_as_gpus_or_gres_with_or_without_model():
    limits = dict(max_runtime={"gpu": 60}, max_gpu={"gpu": 1})
    plain = Cluster(**limits).train_resources(10, 1, 1)
    assert plain["gpu"] == 1 and "gres" not in plain and "gpu_model" not in plain
    assert "slurm_extra" not in plain  # fits the cap: no warning signal
    long = Cluster(**limits, signal_seconds=120).train_resources(61, 1, 1)
    assert long["slurm_extra"] == "--signal=USR1@120" and long["runtime"] == 60
    model = Cluster(**limits, gpu_model="a100").train_resources(10, 1, 1)
    assert model["gpu"] == 1 and model["gpu_model"] == "a100"
    gres = Cluster(**limits, gpu_request="gres").train_resources(10, 1, 1)
    assert gres["gpu"] == 0 and gres["gres"] == "gpu:1"
    assert (
        Cluster(**limits, gpu_request="gres", gpu_model="v100").train_resources(10, 1, 1)["gres"]
        == "gpu:v100:1"
    )
    cpu = Cluster(**limits, gpu_request="gres").train_resources(10, 0, 1)
    assert cpu["gpu"] == 0 and "gres" not in cpu


@pytest.mark.parametrize(
    "data, message",
    [
        ({"partitions": {}}, "needs a `partitions:` mapping"),
        ({"partitions": {"cpu": {}}, "workflow": {"acount": "x"}}, "workflow.acount"),
        (
            {"partitions": {"cpu": {}}, "workflow": {"gpu_request": "gpus"}},
            "gpu_request is 'gpus'; allowed: gpu",
        ),
        ({"partitions": {"cpu": {}}, "workflow": {"signal_seconds": 10}}, "signal_seconds is 10"),
        (
            {"partitions": {"cpu": {"max_runtime": 5}}, "workflow": {"signal_seconds": 600}},
            "partitions.cpu.max_runtime .5 min. is not longer than workflow.signal_seconds",
        ),
    ],
)
def test_a_bad_cluster_file_says_what_and_how_to_fix(tmp_path, data, message):
    with pytest.raises(ClusterFileError, match=message):
        read_cluster(write(tmp_path, data))


# -- the warning signal -------------------------------------------------------------------------------
SPEC = dict(
    arch="mlp",
    model_options={"hidden": [8]},
    aggregation="regression",
    n_members=2,
    beta=1.0,
    seed=0,
    recipe=dict(epochs=5, lr=0.01, batch_size=16),
)
SPLIT = {"fractions": [0.6, 0.2, 0.2], "seed": 0, "fixed": True}


class SignalAt(io.StringIO):
    """The job's log; sends this process SIGUSR1 (what SLURM's --signal does) once a line starts
    with `at`."""

    def __init__(self, at=None):
        super().__init__()
        self.at = at

    def write(self, text):
        if self.at and text.startswith(self.at):
            os.kill(os.getpid(), signal.SIGUSR1)
        return super().write(text)


def train(run_dir, data, log):
    # no periodic checkpoint (an hour apart): the one on disk after the stop is the stop's own
    return train_job(TrainingJob.of_run(SPEC, SPLIT, data, run_dir, checkpoint_seconds=3600), log)[
        0
    ]


def test_usr1_saves_the_checkpoint_stops_and_the_rerun_resumes_to_the_same_result(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 3)).astype(np.float32)
    y = (X.sum(axis=1) + 0.1 * rng.normal(size=60)).astype(np.float32)
    save_prepared(tmp_path / "data.npz", X=X, y=y, task="regression", n_classes=0)
    data = str(tmp_path / "data.npz")
    train(tmp_path / "reference", data, SignalAt())
    before = signal.getsignal(signal.SIGUSR1)
    with pytest.raises(StopRequested, match="stopped after epoch 2, checkpoint saved"):
        train(tmp_path / "run", data, SignalAt(at="epoch 2/"))
    assert signal.getsignal(signal.SIGUSR1) == before, "the handler outlived the training"
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    assert state["epoch"] == 2 and state["status"] == "running"
    assert not (tmp_path / "run" / "history.csv").exists(), "a stopped run must not look complete"
    log = SignalAt()
    record = train(tmp_path / "run", data, log)
    assert record["resumed_from_epoch"] == 2 and "resumed from" in log.getvalue()
    a = pd.read_csv(tmp_path / "reference" / "history.csv").drop(columns=["seconds"])
    b = pd.read_csv(tmp_path / "run" / "history.csv").drop(columns=["seconds"])
    pd.testing.assert_frame_equal(a, b)


# -- the onerror report -------------------------------------------------------------------------------
# the SLURM executor plugin's messages (snakemake-executor-plugin-slurm 2.8), as it writes them
CALL = "sbatch --parsable --job-name x --output 'logs/slurm/%j.log' -p long --mem 8000 -C 'v100'"
REFUSED = (
    "SLURM sbatch failed. The error message was 'sbatch: error: Invalid feature specification'.\n"
    f"    sbatch call:\n        {CALL} --wrap=\"python -m snakemake --target-jobs 'train:x'\"\n"
)


def test_failure_report_shows_every_attempt_the_last_slurm_log_and_the_rule_log(tmp_path):
    from collusion.failures import FailedJob, failure_report

    slurm_logs = [tmp_path / "logs/slurm/group_train_cpu_train" / f"{n}.log" for n in (7, 9)]
    endings = ["first attempt", "slurmstepd: error: *** JOB 9 CANCELLED DUE TO TIME LIMIT ***"]
    for path, last in zip(slurm_logs, endings):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join([f"line {i}" for i in range(30)] + [last]) + "\n")
    rule_log = tmp_path / "train.log"
    rule_log.write_text("epoch 1/8\nepoch 2/8\n")
    main_log = (  # the SLURM executor plugin's lines, one per attempt
        f"Job abc-1 has been submitted with SLURM jobid 7 (log: {slurm_logs[0]}).\n"
        f"Job abc-1 has been submitted with SLURM jobid 9 (log: {slurm_logs[1]}).\n"
    )
    timeout = (
        "SLURM-job '9' failed, SLURM status is: 'TIMEOUT'. Detailed failure reason unavailable"
    )
    failed = FailedJob("group train_cpu", "abc-1", [str(rule_log)], [timeout])
    never = FailedJob("rule train", "12", [str(tmp_path / "missing.log")])
    report = failure_report([failed, never], main_log, slurm=True, main_log_path="run.log")
    lines = report.splitlines()
    assert lines[0] == "2 job(s) failed; their logs:"
    assert f"SLURM job 7: log {slurm_logs[0]}" in lines
    assert f"SLURM job 9, SLURM state TIMEOUT: log {slurm_logs[1]}" in lines
    assert "   slurmstepd: error: *** JOB 9 CANCELLED DUE TO TIME LIMIT ***" in lines
    assert (
        "   first attempt" not in lines and "   line 15" not in lines and "   line 16" in lines
    )  # 15 lines
    assert f"-- last 15 lines of {rule_log}:" in lines and "   epoch 2/8" in lines
    # refused, and sbatch's reason not kept: said plainly, with where to look
    assert (
        "no SLURM job was created for it, and why was not kept: look for 'sbatch' in run.log, "
        "or rerun with --verbose, which prints every sbatch call"
    ) in lines
    assert any(line.startswith(f"-- {tmp_path / 'missing.log'}: not written") for line in lines)
    assert "was not kept" not in failure_report([never], "", slurm=False)


def test_a_refused_job_shows_what_sbatch_said_to_its_own_submission(tmp_path):
    """Issue 27: the report reran `sbatch --test-only` without the partition the plugin chose and
    without the job's constraint, and showed a false cause (or a test that passes)."""
    from collusion.failures import FailedJob, failure_report

    group = FailedJob("group train_cpu", "g-1", [], [REFUSED, REFUSED.replace("8000", "16000")])
    report = failure_report([group], "", slurm=True)
    lines = report.splitlines()
    assert "sbatch refused it: sbatch: error: Invalid feature specification" in lines
    assert f"   the submission: {CALL}" in lines  # its partition and constraint, not its command
    assert f"   the submission: {CALL.replace('8000', '16000')}" in lines  # every attempt's
    assert "no SLURM job was created" not in report and "--test-only" not in report


def test_an_array_member_shows_what_sbatch_said_to_the_array(tmp_path):
    from collusion.failures import FailedJob, failure_report

    main_log = (
        "SLURM sbatch failed for array job submission (tasks 1-2). The error message was "
        "'sbatch: error: Batch job submission failed: Requested node configuration is not "
        "available'.\n"
        f'    sbatch call:\n        {CALL} --array=1-2 --wrap="python -m snakemake x"\n'
    )
    part = "Part of failed array sbatch submission (tasks 1-2); see log for details."
    report = failure_report([FailedJob("rule train", "5", [], [part])], main_log, slurm=True)
    assert (
        "sbatch refused the array it was in (tasks 1-2): sbatch: error: Batch job submission "
        "failed: Requested node configuration is not available"
    ) in report.splitlines()
    assert f"   the submission: {CALL} --array=1-2" in report.splitlines()
    lost = failure_report([FailedJob("rule train", "5", [], [part])], "", slurm=True)
    assert "(not found in the run's log)" in lost


def test_an_array_task_has_its_log_where_the_plugin_writes_it(tmp_path):
    from collusion.failures import FailedJob, failure_report

    log = tmp_path / "logs/slurm/rule_train/12_2.log"
    log.parent.mkdir(parents=True)
    log.write_text("Traceback (most recent call last):\nValueError: x\n")
    main_log = (
        "Submitted array job with Snakemake IDs 4,5 and SLURM job ID 12. The individual task "
        "IDs are 1-2.\n"
    )
    state = (
        "SLURM-job '12_2' failed, SLURM status is: 'FAILED'. Detailed failure reason unavailable"
    )
    report = failure_report(
        [FailedJob("rule train", "5", [], [state])],
        main_log,
        slurm=True,
        slurm_logdir=tmp_path / "logs/slurm",
    )
    assert f"SLURM job 12_2, SLURM state FAILED: log {log}" in report.splitlines()
    assert "   ValueError: x" in report.splitlines()


# -- what the submitting run checks at start ------------------------------------------------------
@pytest.mark.parametrize(
    "gres, gpus",
    [
        ("(null)", {}),
        ("gpu:1", {None: 1}),
        ("gpu:a100:4(S:0-1)", {"a100": 4}),
        ("gpu:v100:2,gpu:a100:2(S:0),mps:100", {"v100": 2, "a100": 2}),
    ],
)
def test_node_gpus_read_sinfo_gres(gres, gpus):
    assert node_gpus(gres) == gpus


def test_gpu_jobs_on_a_cluster_without_that_gpu_are_a_start_problem():
    no_gpu = [{}, {}]
    assert gpu_problem([], no_gpu) is None
    assert gpu_problem([(0, None)], no_gpu) is None
    assert "no node of this cluster has one" in gpu_problem([(1, None), (1, None)], no_gpu)
    assert "2 job(s) ask for a GPU" in gpu_problem([(1, None), (1, None)], no_gpu)
    typed = [{"a100": 4}, {}]
    assert gpu_problem([(1, None), (4, "a100")], typed) is None
    assert "1 GPU(s) of model v100" in gpu_problem([(1, "v100")], typed)
    assert "4 GPU(s)" in gpu_problem([(4, None)], [{None: 2}])  # more than one node has


# -- the SLURM executor plugin, adapted ----------------------------------------------------------------
def test_jobs_share_an_array_only_with_the_same_request_and_none_waits():
    """The plugin gives every task of an array the first job's request, and sets aside (never to
    submit) the jobs of an array rule when fewer than all its ready jobs were selected at once;
    it runs an array's first task outside a job step, where SLURM's warning does not reach."""
    from types import SimpleNamespace

    from collusion.slurm_run import whole_arrays

    def job(rule, runtime, group=False, signal=False):
        extra = {"slurm_extra": "--signal=USR1@600"} if signal else {}
        return SimpleNamespace(
            rule=SimpleNamespace(name=rule),
            threads=1,
            resources={"runtime": runtime, "mem_mb": 2000, **extra},
            is_group=lambda: group,
        )

    submitted = []
    executor = SimpleNamespace(
        run_jobs=lambda jobs: submitted.append(("plugin", jobs)),
        _submit_job=lambda job: submitted.append(("alone", [job])),
        _submit_array_jobs=lambda jobs: submitted.append(("array", jobs)),
    )
    whole_arrays(executor, {"train"})
    a, b, c, d = job("train", 60), job("train", 60), job("train", 90), job("train", 60, group=True)
    other, e, f = job("prepare", 60), job("train", 60, signal=True), job("train", 60, signal=True)
    executor.run_jobs([a, b, c, d, other, e, f])
    # runs in segments are never in an array: its first task would not get SLURM's warning
    assert submitted == [
        ("plugin", [d, other]),
        ("array", [a, b]),
        ("alone", [e]),
        ("alone", [f]),
        ("alone", [c]),
    ]


def test_a_job_names_itself_as_scontrol_does(monkeypatch):
    """An array task's own job id can equal the array's, which names every task: `scontrol requeue
    <that id>` requeued the whole array (seen on the test cluster), so a task names itself
    <array>_<task>."""
    from collusion.cluster import requeue_this_job, this_job

    for name in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(name, raising=False)
    assert this_job() is None and requeue_this_job() == "not inside a SLURM job"
    monkeypatch.setenv("SLURM_JOB_ID", "62")
    assert this_job() == "62"
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "62")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "2")
    assert this_job() == "62_2"
