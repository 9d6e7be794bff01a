"""The cluster file (profiles/slurm/partitions.yaml) and what it does to training jobs: runtime
requests capped at the partitions' time limits, segments for longer runs, the GPU request, and
the training job that saves its checkpoint and stops on SLURM's warning signal (issue 16)."""

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

from collusion.cluster import Cluster, ClusterFileError, minutes, read_cluster
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
        "SLURM-job '9' failed, SLURM status is: 'TIMEOUT'. Detailed failure reason unavailable\n"
    )
    never = FailedJob("rule train", "12", [str(tmp_path / "missing.log")])
    report = failure_report(
        [FailedJob("group train_cpu", "abc-1", [str(rule_log)]), never], main_log, slurm=True
    )
    lines = report.splitlines()
    assert lines[0] == "2 job(s) failed; their logs:"
    assert f"SLURM job 7: log {slurm_logs[0]}" in lines
    assert f"SLURM job 9, SLURM state TIMEOUT: log {slurm_logs[1]}" in lines
    assert "   slurmstepd: error: *** JOB 9 CANCELLED DUE TO TIME LIMIT ***" in lines
    assert (
        "   first attempt" not in lines and "   line 15" not in lines and "   line 16" in lines
    )  # 15 lines
    assert f"-- last 15 lines of {rule_log}:" in lines and "   epoch 2/8" in lines
    assert "no SLURM job was created for it: sbatch refused the submission" in lines
    assert any(line.startswith(f"-- {tmp_path / 'missing.log'}: not written") for line in lines)
    assert "sbatch refused" not in failure_report([never], "", slurm=False)
