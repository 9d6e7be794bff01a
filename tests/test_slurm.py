"""`snakemake --profile slurm` on a real SLURM cluster, and the profile's own consistency.

The cluster tests (marked `slurm`) need a running cluster: CI starts a one-node one with
.ci/slurm/install.sh and .ci/slurm/start.sh and stops it with .ci/slurm/stop.sh (its client
wrappers and SLURM_CONF are found through $SLURM_CI_DIR, default /tmp/collusion-slurm). Without a
reachable cluster they are skipped, saying why. The other tests only read the profile and the plan.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from collusion import plan
from collusion.cluster import FAILURE_RETRIES, read_cluster
from collusion.config_errors import load_config

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "configs" / "tiny.yaml"
PAPER = REPO / "config" / "paper.yaml"
PROFILE = REPO / "profiles" / "slurm"
PROFILE_CONFIG = PROFILE / "config.v9+.yaml"
CI_DIR = Path(os.environ.get("SLURM_CI_DIR", "/tmp/collusion-slurm"))
IMAGE_DATASETS = {"cifar10", "cifar100", "svhn", "tiny_imagenet", "imagenet"}  # the GPU-sized data
REPORT_RULES = re.compile(r"(analyse_\w+|table_\w+|figure_\w+|claims)$")
# What a one-node test cluster without accounting needs on top of the profile: without slurmdbd
# only squeue knows job states (start.sh keeps finished jobs visible for MinJobAge=3600 s). The
# rest makes the test quicker (first status check after 5 s) and keeps the evidence (job logs).
# No --slurm-no-account: without one the plugin submits without an account.
LOCAL_CLUSTER_OVERRIDES = [
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "5",
    "--slurm-keep-successful-logs",
]
# The test cluster (.ci/slurm/start.sh) is shaped unlike the profile: one partition, `debug`, with a
# 4-hour MaxTime. What a user does about that: describe it in profiles/slurm/partitions.yaml.
CI_PARTITIONS = {"debug": {"max_runtime": "4:00:00", "max_gpu": 1}}


def adapt_to_cluster(checkout: Path, partitions: dict = CI_PARTITIONS, **workflow) -> None:
    """Edit the checkout's cluster file, as profiles/README.md tells a user to."""
    text = {"partitions": partitions, **({"workflow": workflow} if workflow else {})}
    (checkout / "profiles" / "slurm" / "partitions.yaml").write_text(yaml.safe_dump(text))


TIME_COLUMNS = re.compile(r"second|time|duration", re.IGNORECASE)


def profile() -> dict:
    return yaml.safe_load(PROFILE_CONFIG.read_text())


def plugin_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("snakemake_executor_plugin_slurm") is not None


def snakemake_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", *args]


def run(
    cmd: list[str], cwd: Path, env: dict | None = None, limit: int = 600
) -> subprocess.CompletedProcess:
    """Run under `timeout -k`: a plain SIGTERM does not always stop a snakemake waiting on SLURM."""
    return subprocess.run(
        ["timeout", "-k", "30", str(limit), *cmd],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=limit + 60,
        start_new_session=True,
    )


def output_of(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


def checkout_copy(dest: Path) -> Path:
    """What a user's checkout holds (tracked and not ignored files, the `slurm` link included)."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert listed.returncode == 0, f"git ls-files failed: {listed.stderr}"
    for name in filter(None, listed.stdout.split("\0")):
        source = REPO / name
        if not (source.exists() or source.is_symlink()):
            continue  # deleted in the working tree
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
        else:
            shutil.copy2(source, target)
    return dest


def with_own_src(env: dict, checkout: Path) -> dict:
    """The workflow in a copy imports the copy's package, not the (maybe edited) main checkout's."""
    paths = [str(checkout / "src"), env.get("PYTHONPATH", "")]
    return {**env, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def dry_run_jobs(text: str) -> list[dict]:
    """The jobs a dry run prints: rule, group (None when submitted alone), output, resources."""
    jobs, group = [], None
    for line in text.splitlines():
        header = re.match(r"\[[^\]]+\] Group job (\S+)", line)
        if header:
            group = header.group(1)
            continue
        rule = re.match(r"^(\s*)(?:local)?rule (\w+):$", line)
        if rule:
            in_group = group if rule.group(1) else None
            if not rule.group(1):
                group = None
            jobs.append({"rule": rule.group(2), "group": in_group, "output": "", "resources": ""})
        elif jobs:
            field = re.match(r"^\s*(output|resources): (.*)$", line)
            if field:
                jobs[-1][field.group(1)] = field.group(2)
    return jobs


# -- the profile, without a cluster -------------------------------------------------------------------


def test_slurm_symlink_is_relative_and_names_the_profile():
    link = REPO / "slurm"
    assert link.is_symlink(), (
        "the repository root needs the committed symlink `slurm -> profiles/slurm`"
    )
    assert os.readlink(link) == "profiles/slurm"
    assert link.resolve() == PROFILE.resolve()


def test_the_default_profile_shadows_none_of_the_slurm_profiles_settings():
    """profiles/default (read by every run, --profile slurm too) sets only the console's
    quietness: a key of the slurm profile there (default-resources, ...) would replace it."""
    default = yaml.safe_load((REPO / "profiles" / "default" / "config.yaml").read_text())
    assert set(default) == {"quiet"}, (
        f"profiles/default sets {sorted(set(default) - {'quiet'})}: it would replace the slurm "
        "profile's values as a whole"
    )
    assert not set(default) & set(profile())


def test_profile_names_only_rules_that_exist():
    """Snakemake silently ignores unknown rule names in groups and set-resources: check them here."""
    result = run(snakemake_cmd("--list-rules"), REPO, limit=120)
    assert result.returncode == 0, output_of(result)[-3000:]
    rules = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    conf = profile()
    named = (
        set(conf.get("groups", {}))
        | set(conf.get("set-resources", {}))
        | set(conf.get("set-threads", {}))
    )
    assert named <= rules, (
        f"profiles/slurm names rules the workflow does not have: {sorted(named - rules)}"
    )


def test_segment_retries_come_on_top_of_the_profiles_retries():
    assert profile()["retries"] == FAILURE_RETRIES


def test_profile_resources_grow_with_the_attempt():
    """A job killed for time or memory gets more of both on its retry."""
    conf = profile()
    assert conf["executor"] == "slurm" and conf["retries"] >= 1
    for name in ("runtime", "mem_mb"):
        expression = str(conf["default-resources"][name])
        first, second = (eval(expression, {"attempt": attempt}) for attempt in (1, 2))
        assert second > first > 0, f"default-resources {name}: {expression}"


@pytest.mark.skipif(
    not plugin_installed(), reason="snakemake-executor-plugin-slurm is not installed"
)
def test_partition_file_sends_gpu_jobs_to_the_gpu_partition():
    from types import SimpleNamespace

    from snakemake_executor_plugin_slurm.partitions import get_best_partition, read_partition_file

    class Resources(dict):
        __getattr__ = dict.get

    partitions = read_partition_file(PROFILE / profile()["slurm-partition-config"])
    quiet = SimpleNamespace(info=lambda *a: None, debug=lambda *a: None, warning=lambda *a: None)

    def best(**resources):
        job = SimpleNamespace(name="train", threads=1, resources=Resources(resources))
        return get_best_partition(partitions, job, quiet)

    assert best(gpu=1, runtime=60, mem_mb=4000) == "gpu"
    assert best(gres="gpu:1", runtime=60, mem_mb=4000) == "gpu"
    assert best(runtime=15, mem_mb=2000) == "cpu"


@pytest.mark.skipif(
    not plugin_installed(), reason="snakemake-executor-plugin-slurm is not installed"
)
def test_small_jobs_share_slurm_jobs():
    """Analyses, tables, figures, claims and CPU-sized training runs are grouped, GPU runs are not."""
    result = run(
        snakemake_cmd("--profile", "slurm", "-n", "-F", "--configfile", str(TINY)), REPO, limit=300
    )
    assert result.returncode == 0, output_of(result)[-5000:]
    jobs = dry_run_jobs(result.stdout)
    alone = sorted({j["rule"] for j in jobs if REPORT_RULES.match(j["rule"]) and not j["group"]})
    assert not alone, (
        f"submitted as single SLURM jobs (add them to a group in profiles/slurm): {alone}"
    )
    train = [j for j in jobs if j["rule"] == "train"]
    assert train, "the tiny configuration plans no training"
    ungrouped = [j["output"] for j in train if not j["group"]]
    assert not ungrouped, (
        f"CPU-sized training runs not grouped (train rule: group train_cpu): {ungrouped[:2]}"
    )


@pytest.mark.skipif(not PAPER.exists(), reason="config/paper.yaml does not exist yet")
@pytest.mark.skipif(
    not plugin_installed(), reason="snakemake-executor-plugin-slurm is not installed"
)
def test_paper_grid_plans_one_gpu_job_per_image_run():
    from collusion import pipeline

    result = run(
        snakemake_cmd("--profile", "slurm", "-n", "-F", "--configfile", str(PAPER)), REPO, limit=600
    )
    assert result.returncode == 0, output_of(result)[-5000:]
    # --configfile replaces config/config.yaml (see Snakefile)
    expected = {run.dir for run in pipeline.all_runs(yaml.safe_load(PAPER.read_text()))}
    planned = {  # a train_pack_<experiment> job holds all β of one seed (the UCI tables)
        run_dir: job
        for job in dry_run_jobs(result.stdout)
        if job["rule"] == "train" or job["rule"].startswith("train_pack_")
        for run_dir in re.findall(r"(results/runs/\S+?)/history\.csv", job["output"])
    }
    missing = expected - set(planned)
    assert not missing, (
        f"{len(missing)} runs of the paper grid are not planned, e.g. {sorted(missing)[:3]}"
    )
    image = {
        d: job for d, job in planned.items() if pipeline.parse_run_dir(d).dataset in IMAGE_DATASETS
    }
    assert image, "the paper grid has no image runs?"
    for run_dir, job in image.items():
        assert re.search(r"\bgpu=1\b", job["resources"]), (
            f"{run_dir} asks for no GPU: {job['resources']}"
        )
        assert job["group"] is None, (
            f"{run_dir}: a GPU run must be its own SLURM job, not in {job['group']}"
        )
    # every training job's runtime within the caps of profiles/slurm/partitions.yaml; the longest
    # (expected beyond the cap) ask for the cap and are trained in segments
    caps = read_cluster(PROFILE / "partitions.yaml")
    at_cap = 0
    for run_dir, job in planned.items():
        runtime = int(re.search(r"\bruntime=(\d+)", job["resources"]).group(1))
        gpu = int(re.search(r"\bgpu=(\d+)", job["resources"]).group(1))
        assert 0 < runtime <= caps.cap(gpu), (
            f"{run_dir}: runtime {runtime} min, cap {caps.cap(gpu)}"
        )
        signal = f"slurm_extra=--signal=USR1@{caps.signal_seconds}" in job["resources"]
        assert runtime == caps.cap(gpu) or not signal, (
            f"{run_dir}: {job['resources']}"
        )  # segments only
        assert not (signal and job["group"]), f"{run_dir}: trained in segments, but grouped"
        at_cap += signal
    assert at_cap, (
        "no run of the paper grid is longer than the cap? (the segment path goes untested here)"
    )


# -- on a real cluster --------------------------------------------------------------------------------


def cluster_env() -> dict:
    """The environment that reaches the test cluster: SLURM_CONF, and the client wrappers first on
    PATH. Jobs inherit it (sbatch --export=ALL); the `srun` wrapper matters there, because the
    plugin's job step removes every SLURM_* variable, SLURM_CONF included, before calling srun."""
    env = dict(os.environ)
    if "SLURM_CONF" not in env and (CI_DIR / "etc" / "slurm.conf").exists():
        env["SLURM_CONF"] = str(CI_DIR / "etc" / "slurm.conf")
    if (CI_DIR / "bin").is_dir():
        env["PATH"] = f"{CI_DIR / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def cluster_problem(env: dict) -> str | None:
    """Why no SLURM cluster can be used (None: it can)."""
    if not plugin_installed():
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')"
    if shutil.which("sinfo", path=env["PATH"]) is None:
        return "no SLURM client (sinfo) on PATH; start a test cluster: .ci/slurm/install.sh && .ci/slurm/start.sh"
    try:
        result = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%T"], env=env, capture_output=True, text=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 20 s"
    if result.returncode != 0:
        return f"sinfo failed ({result.stderr.strip()[-300:]}); start a test cluster: .ci/slurm/start.sh"
    states = result.stdout.split()
    if not any(s.rstrip("*~#$") in ("idle", "mixed", "allocated", "completing") for s in states):
        return f"no usable SLURM node (states: {states}); see {CI_DIR}/log/"
    return None


@pytest.fixture(scope="module")
def slurm_env():
    env = cluster_env()
    problem = cluster_problem(env)
    if problem:
        pytest.skip(f"no SLURM cluster reachable: {problem}")
    return env


def slurm_job(job_id: str, env: dict) -> dict:
    result = subprocess.run(
        ["scontrol", "show", "job", "-o", job_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, f"scontrol does not know job {job_id}: {result.stderr}"
    return dict(re.findall(r"(\w+)=(\S*)", result.stdout))


def submissions(text: str) -> dict[str, Path]:
    """SLURM job id -> its log, from snakemake's 'submitted with SLURM jobid' lines."""
    return {
        job: Path(log)
        for job, log in re.findall(r"submitted with SLURM jobid (\d+) \(log: (\S+)\)", text)
    }


def trained_in(log: str) -> set[str]:
    """The runs a job's log shows it trained (the job step prints each rule it runs; a pack job
    lists several runs' history.csv on its output line)."""
    lines = re.findall(r"output: (.*)", log)
    return {run for line in lines for run in re.findall(r"(results/runs/\S+?)/history\.csv", line)}


def run_dirs(root: Path) -> list[str]:
    return sorted(
        str(p.parent.relative_to(root)) for p in (root / "results" / "runs").rglob("history.csv")
    )


# the rules that train: `train`, and one `train_pack_<experiment>_…` per job of a packed experiment
TRAINING_RULES = ["train"] + [
    job.slot.rule for job in plan.pack_jobs(load_config(TINY), everything=True)
]


@pytest.fixture(scope="module")
def tiny(slurm_env, tmp_path_factory):
    """The tiny configuration twice, at the same time: everything through `--profile slurm`, and
    the training locally (--cores 2) as the reference."""
    local = checkout_copy(tmp_path_factory.mktemp("local"))
    on_slurm = checkout_copy(tmp_path_factory.mktemp("slurm"))
    adapt_to_cluster(on_slurm)
    log = on_slurm.parent / "snakemake-slurm.log"
    started = time.monotonic()
    with open(log, "w") as out:
        process = subprocess.Popen(
            [
                "timeout",
                "-k",
                "30",
                "2400",
                *snakemake_cmd(
                    "--profile", "slurm", "--configfile", str(TINY), *LOCAL_CLUSTER_OVERRIDES
                ),
            ],
            cwd=on_slurm,
            env=with_own_src(slurm_env, on_slurm),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        result = run(
            snakemake_cmd("--cores", "2", "--configfile", str(TINY), "--until", *TRAINING_RULES),
            local,
            with_own_src(slurm_env, local),
            limit=1200,
        )
        assert result.returncode == 0, output_of(result)[-5000:]
        local_seconds = time.monotonic() - started
        assert process.wait(timeout=2500) == 0, log.read_text()[-8000:]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=120)
    print(
        f"tiny config: local training {local_seconds:.0f} s, everything on SLURM {time.monotonic() - started:.0f} s"
    )
    return {"local": local, "slurm": on_slurm, "log": log.read_text(), "env": slurm_env}


@pytest.mark.slurm
@pytest.mark.slow
def test_every_training_run_went_through_sbatch(tiny):
    jobs = submissions(tiny["log"])
    assert jobs, "no job was submitted to SLURM"
    trained = set()
    for job_id, log in jobs.items():
        assert slurm_job(job_id, tiny["env"])["JobState"] == "COMPLETED", job_id
        trained |= trained_in(log.read_text())
    runs = set(run_dirs(tiny["local"]))
    assert runs, "the local run trained nothing"
    assert trained == runs, (
        f"not trained in a SLURM job: {sorted(runs - trained)[:3]}; unknown: {sorted(trained - runs)[:3]}"
    )
    assert (tiny["slurm"] / "results" / "paper" / "claims.md").exists()


def assert_same_run(local_dir: Path, slurm_dir: Path) -> None:
    a, b = pd.read_csv(local_dir / "history.csv"), pd.read_csv(slurm_dir / "history.csv")
    keep = [c for c in a.columns if not TIME_COLUMNS.search(c)]
    pd.testing.assert_frame_equal(a[keep], b[keep], check_exact=False, rtol=1e-9, atol=1e-12)
    with np.load(local_dir / "predictions.npz") as x, np.load(slurm_dir / "predictions.npz") as y:
        assert sorted(x.files) == sorted(y.files)
        for key in x.files:
            np.testing.assert_allclose(
                x[key], y[key], rtol=1e-9, atol=1e-12, err_msg=f"{local_dir}: {key}"
            )


@pytest.mark.slurm
@pytest.mark.slow
def test_results_on_slurm_equal_the_local_run(tiny):
    runs = run_dirs(tiny["local"])
    assert runs == run_dirs(tiny["slurm"])
    for run_dir in runs:  # one thread in both: CPU training is bit-reproducible
        assert_same_run(tiny["local"] / run_dir, tiny["slurm"] / run_dir)


@pytest.mark.slurm
@pytest.mark.slow
def test_gpu_request_is_scheduled_on_the_gpu_partition(tiny):
    """The cluster's GPU is a stand-in (gres.conf File=/dev/null): this proves the request path,
    and the run, which still trains on the CPU, gives the local result."""
    on_slurm = tiny["slurm"]
    run_dir = next(
        d for d in run_dirs(on_slurm) if d.startswith("results/runs/digits/")
    )  # a `train` job
    target = f"{run_dir}/history.csv"
    result = run(
        snakemake_cmd(
            "--profile",
            "slurm",
            "--configfile",
            str(TINY),
            *LOCAL_CLUSTER_OVERRIDES,
            "--set-resources",
            "train:gpu=1",
            "--force",
            target,
        ),
        on_slurm,
        with_own_src(tiny["env"], on_slurm),
        limit=600,
    )
    assert result.returncode == 0, output_of(result)[-5000:]
    jobs = submissions(output_of(result))
    assert len(jobs) == 1, output_of(result)[-3000:]
    job = slurm_job(next(iter(jobs)), tiny["env"])
    assert job["JobState"] == "COMPLETED"
    assert job["Partition"] == "debug"  # the one partition partitions.yaml names
    assert "gpu:1" in job.get("TresPerJob", "") + job.get("TresPerNode", ""), job
    assert_same_run(tiny["local"] / Path(target).parent, on_slurm / Path(target).parent)


REQUEUED_RUN = ("diabetes", "diabetes", "mlp_narrow", "regression", 3, 0.5, 0)


def epochs_lasting(seconds: float, prepared: Path, scratch: Path) -> int:
    """How many epochs of REQUEUED_RUN take about `seconds` on this machine (timed on 300)."""

    from collusion import pipeline
    from collusion.job import train
    from collusion.spec import TrainingJob

    config = load_config(TINY)
    run = pipeline.Run(*REQUEUED_RUN)
    spec = pipeline.run_spec(config, run).to_dict()
    spec["recipe"]["epochs"] = 300
    scratch.mkdir()
    job = TrainingJob.of_run(spec, pipeline.split_config(config, run), prepared, scratch)
    started = time.monotonic()
    with open(os.devnull, "w") as quiet:
        train(job, quiet)
    return int(seconds / ((time.monotonic() - started) / 300))


def checkpoint_state(path: Path) -> dict:
    import torch

    try:
        state = torch.load(path, weights_only=False)
    except Exception:  # not written yet, or being replaced
        return {}
    return {"epoch": state["epoch"], "status": state["status"]}


@pytest.mark.slurm
@pytest.mark.slow
def test_requeued_training_resumes_from_its_checkpoint(tiny, tmp_path):
    """What a preemption does: SLURM requeues the running job (`--requeue` in the profile); the
    restarted job step resumes from checkpoint.pt (written every 30 s) instead of starting over."""
    from collusion import pipeline

    checkout = checkout_copy(tmp_path / "requeue")
    adapt_to_cluster(checkout)
    shutil.copytree(tiny["slurm"] / "resources", checkout / "resources")  # the prepared data
    run_dir = pipeline.Run(*REQUEUED_RUN).dir
    # long enough to be requeued after its first checkpoint (30 s), short enough for CI
    epochs = max(
        1000, epochs_lasting(90, checkout / "resources/prepared/diabetes.npz", tmp_path / "timing")
    )
    longer = tmp_path / "longer.yaml"
    recipe = yaml.safe_load(TINY.read_text())["recipes"]["tiny_tabular"]
    longer.write_text(yaml.safe_dump({"recipes": {"tiny_tabular": {**recipe, "epochs": epochs}}}))
    log = tmp_path / "snakemake.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [
                "timeout",
                "-k",
                "30",
                "1200",
                *snakemake_cmd(
                    f"{run_dir}/history.csv",
                    "--profile",
                    "slurm",
                    "--configfile",
                    str(TINY),
                    str(longer),
                    *LOCAL_CLUSTER_OVERRIDES,
                ),
            ],
            cwd=checkout,
            env=with_own_src(tiny["env"], checkout),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        checkpoint = checkout / run_dir / "checkpoint.pt"
        deadline = time.monotonic() + 600
        while checkpoint_state(checkpoint).get("status") != "running":
            assert process.poll() is None, (
                f"finished before a checkpoint mid-way: {log.read_text()[-3000:]}"
            )
            assert time.monotonic() < deadline, "no checkpoint after 600 s"
            time.sleep(0.5)
        (job_id,) = submissions(log.read_text())
        requeue = subprocess.run(
            ["scontrol", "requeue", job_id], env=tiny["env"], capture_output=True, text=True
        )
        assert requeue.returncode == 0, requeue.stderr
        assert process.wait(timeout=1300) == 0, log.read_text()[-5000:]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=120)
    job = slurm_job(job_id, tiny["env"])
    assert job["Restarts"] == "1" and job["JobState"] == "COMPLETED", job
    train_log = (
        checkout / "logs" / "train" / f"{run_dir.removeprefix('results/runs/')}.log"
    ).read_text()
    resumed = re.search(r"resumed from \S+ after epoch (\d+) \(running\)", train_log)
    assert resumed and 0 < int(resumed.group(1)) < epochs, train_log[-2000:]
    history = pd.read_csv(checkout / run_dir / "history.csv")
    assert list(history["epoch"]) == list(range(1, epochs + 1))


@pytest.mark.slurm
@pytest.mark.slow
def test_a_run_longer_than_the_cap_trains_in_segments_and_a_refused_job_says_why(tiny, tmp_path):
    """partitions.yaml caps training jobs at 4 minutes, with SLURM's warning 2 minutes before: a run
    of about 200 s of training (expected beyond the cap) needs at least two SLURM jobs; the first
    saves its checkpoint on the signal and exits, Snakemake resubmits it and it resumes. Without
    --slurm-status-command squeue the run refuses to start (it would wait forever). Then a grouped
    job that sbatch refuses (more memory than the node has): the run prints why."""
    from collusion import pipeline

    checkout = checkout_copy(tmp_path / "segments")
    adapt_to_cluster(checkout, {"debug": {"max_runtime": 4, "max_gpu": 1}}, signal_seconds=120)
    shutil.copytree(tiny["slurm"] / "resources", checkout / "resources")
    run_dir = pipeline.Run(*REQUEUED_RUN).dir
    # expected (pipeline.train_resources) beyond the 4-minute cap from 5,000 epochs on
    epochs = max(
        5000, epochs_lasting(200, checkout / "resources/prepared/diabetes.npz", tmp_path / "timing")
    )
    longer = tmp_path / "longer.yaml"
    recipe = yaml.safe_load(TINY.read_text())["recipes"]["tiny_tabular"]
    longer.write_text(yaml.safe_dump({"recipes": {"tiny_tabular": {**recipe, "epochs": epochs}}}))
    env = with_own_src(tiny["env"], checkout)
    command = [
        f"{run_dir}/history.csv",
        "--profile",
        "slurm",
        "--configfile",
        str(TINY),
        str(longer),
    ]
    # without accounting, sacct (the plugin's default status command) would wait forever: refused
    hang = run(snakemake_cmd(*command), checkout, env, limit=300)
    assert hang.returncode != 0 and "add --slurm-status-command squeue" in output_of(hang), (
        output_of(hang)[-3000:]
    )
    assert not submissions(output_of(hang))
    result = run(snakemake_cmd(*command, *LOCAL_CLUSTER_OVERRIDES), checkout, env, limit=1500)
    assert result.returncode == 0, output_of(result)[-5000:]
    jobs = submissions(output_of(result))
    assert len(jobs) >= 2, f"one SLURM job was enough: {output_of(result)[-3000:]}"
    states = [slurm_job(job_id, tiny["env"]) for job_id in jobs]
    assert all(job["TimeLimit"] == "00:04:00" for job in states), [
        job["TimeLimit"] for job in states
    ]
    assert [job["JobState"] for job in states][-1] == "COMPLETED"
    assert all(log.exists() for log in jobs.values()), "an attempt's SLURM log is gone"
    train_log = (
        checkout / "logs" / "train" / f"{run_dir.removeprefix('results/runs/')}.attempts.log"
    ).read_text()
    assert len(re.findall(r"^== .* SLURM job \d+$", train_log, re.M)) == len(jobs), train_log[:3000]
    stops = list(
        dict.fromkeys(re.findall(r"^stopped after epoch (\d+), checkpoint saved", train_log, re.M))
    )
    resumes = re.findall(r"^resumed from \S+ after epoch (\d+) \(running\)", train_log, re.M)
    assert stops and stops == resumes, train_log[-3000:]  # every attempt's lines, appended
    history = pd.read_csv(checkout / run_dir / "history.csv")
    assert list(history["epoch"]) == list(range(1, epochs + 1))

    # sbatch refuses a grouped training job (a short run) asking for more memory than the node has
    short = pipeline.Run(*REQUEUED_RUN[:5], 0.0, 0).dir
    refused = run(
        snakemake_cmd(
            f"{short}/history.csv",
            "--profile",
            "slurm",
            "--configfile",
            str(TINY),
            *LOCAL_CLUSTER_OVERRIDES,
            "--set-resources",
            "train:mem_mb=100000000",
        ),
        checkout,
        env,
        limit=600,
    )
    assert refused.returncode != 0
    report = output_of(refused)
    assert "== group train_cpu ==" in report, report[-4000:]
    assert "no SLURM job was created for it: sbatch refused the submission" in report
    assert (
        "--mem=100000000" in report and "Requested node configuration is not available" in report
    ), report[-4000:]
