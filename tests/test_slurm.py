"""`snakemake --profile slurm` on a real SLURM cluster, and the profile's own consistency.

The cluster tests (marked `slurm`) need a running cluster: CI starts a one-node one with
.ci/slurm/install.sh and .ci/slurm/start.sh and stops it with .ci/slurm/stop.sh (its client
wrappers and SLURM_CONF are found through $SLURM_CI_DIR, default /tmp/collusion-slurm). It is shaped
unlike the profile, as a user's would be: partitions `short` (20 minutes, the default) and `long`
(no time limit), a stand-in GPU, no accounting. Without a reachable cluster they are skipped, saying
why. The other tests only read the profile and the plan.
"""

from __future__ import annotations

import os
import re
import shlex
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

from collusion.cluster import FAILURE_RETRIES, read_cluster
from collusion.config_errors import load_config
from collusion.plan import pack_jobs

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "configs" / "tiny.yaml"
SLURM_CONFIG = "tests/configs/slurm.yaml"  # the cluster tests' configuration, in a checkout
PAPER = REPO / "config" / "paper.yaml"
PROFILE = REPO / "profiles" / "slurm"
PROFILE_CONFIG = PROFILE / "config.v9+.yaml"
CI_DIR = Path(os.environ.get("SLURM_CI_DIR", "/tmp/collusion-slurm"))
IMAGE_DATASETS = {"cifar10", "cifar100", "svhn", "tiny_imagenet", "imagenet"}  # the GPU-sized data
REPORT_RULES = re.compile(r"(analyse_\w+|table_\w+|figure_\w+|claims)$")
# What a one-node test cluster without accounting needs on top of the profile: without slurmdbd
# only squeue knows job states (start.sh keeps finished jobs visible for MinJobAge=3600 s). The
# rest makes the test quicker (first status check after 5 s) and keeps the evidence (job logs).
LOCAL_CLUSTER_OVERRIDES = [
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "5",
    "--slurm-keep-successful-logs",
]


def adapt_to_cluster(checkout: Path, partitions: dict, **workflow) -> None:
    """Write the checkout's cluster file, as profiles/README.md tells a user to."""
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


def start(
    command: list[str], cwd: Path, env: dict, log: Path, limit: int | None = None
) -> subprocess.Popen:
    """A snakemake run in the background, its output in ``log``; under `timeout -k` if ``limit``."""
    with open(log, "w") as out:
        return subprocess.Popen(
            ["timeout", "-k", "30", str(limit), *command] if limit else command,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen) -> None:
    """End a background run that a failed assertion left running (its whole process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=120)


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


def test_every_small_rule_of_the_workflow_has_a_group():
    """Every analysis, table, figure and claims rule (not only those a tiny run plans) shares SLURM
    jobs: a rule added without a group in profiles/slurm would be submitted alone."""
    result = run(snakemake_cmd("--list-rules"), REPO, limit=300)
    assert result.returncode == 0, output_of(result)[-5000:]
    rules = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    profile = yaml.safe_load((REPO / "profiles/slurm/config.v9+.yaml").read_text())
    alone = sorted(r for r in rules if REPORT_RULES.match(r) and r not in profile["groups"])
    assert not alone, f"no group in profiles/slurm/config.v9+.yaml: {alone}"


@pytest.fixture(scope="module")
def plan():
    """The dry run (-n -F, in the repository) of a snakemake command line, each one once."""
    plans = {}

    def dry_run(args: list[str]) -> subprocess.CompletedProcess:
        key = tuple(sorted(args))
        if key not in plans:
            plans[key] = run(snakemake_cmd(*args, "-n", "-F"), REPO, limit=600)
        return plans[key]

    return dry_run


def slurm_commands(markdown: Path) -> list[list[str]]:
    """The shell commands of a document's bash blocks that use the slurm profile or the plugin's
    partition command, as argument lists (.venv/bin/ dropped, comments too)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", markdown.read_text(), re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words and any("slurm" in word for word in words) and "pip" not in words[0]:
                commands.append([words[0].removeprefix(".venv/bin/"), *words[1:]])
    return commands


@pytest.mark.skipif(
    not plugin_installed(), reason="snakemake-executor-plugin-slurm is not installed"
)
def test_the_readmes_slurm_commands_are_the_ones_tested(plan):
    """Each snakemake command of README.md and profiles/README.md that uses the slurm profile
    plans (a dry run); the partition command is the one the cluster tests run."""
    commands = slurm_commands(REPO / "README.md") + slurm_commands(PROFILE.parent / "README.md")
    assert len(commands) >= 6, commands
    for command in commands:
        if command[0] == "$EDITOR":  # editing partitions.yaml
            continue
        if command[0] == "generate-slurm-partition-config":
            assert command[1:] == GENERATE_PARTITIONS[1:], command
            continue
        assert command[0] == "snakemake", command
        args = [w for w in command[1:] if w != "-n"]
        args = ["slurm" if w == "profiles/slurm" else w for w in args]
        result = plan(args)
        assert result.returncode == 0, f"{shlex.join(command)}: {output_of(result)[-3000:]}"


@pytest.mark.skipif(not PAPER.exists(), reason="config/paper.yaml does not exist yet")
@pytest.mark.skipif(
    not plugin_installed(), reason="snakemake-executor-plugin-slurm is not installed"
)
def test_paper_grid_plans_one_gpu_job_per_image_run(plan):
    from collusion import pipeline

    result = plan(["--profile", "slurm", "--configfile", "config/paper.yaml"])
    assert result.returncode == 0, output_of(result)[-5000:]
    # --configfile replaces config/config.yaml (see Snakefile)
    paper = yaml.safe_load(PAPER.read_text())
    expected = {run.dir for run in pipeline.all_runs(paper)}  # under its results_root
    planned = {  # a train_pack_<experiment>_… job holds all β of its seeds (the UCI tables)
        run_dir: job
        for job in dry_run_jobs(result.stdout)
        if job["rule"] == "train" or job["rule"].startswith("train_pack_")
        for run_dir in re.findall(
            rf"({paper['results_root']}/runs/\S+?)/history\.csv", job["output"]
        )
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
    """SLURM job id -> its log, from snakemake's 'submitted with SLURM jobid' lines (jobs alone
    and group jobs)."""
    return {
        job: Path(log)
        for job, log in re.findall(r"submitted with SLURM jobid (\d+) \(log: (\S+)\)", text)
    }


def array_submissions(text: str) -> dict[str, list[str]]:
    """SLURM array job id -> its task ids (<array>_<task>), from the plugin's array lines."""
    found = re.findall(
        r"Submitted array job with Snakemake IDs \S+ and SLURM job ID (\d+)\. "
        r"The individual task IDs are (\d+)-(\d+)\.",
        text,
    )
    return {job: [f"{job}_{i}" for i in range(int(a), int(b) + 1)] for job, a, b in found}


def trained_in(log: str) -> set[str]:
    """The runs a job's log shows it trained (the job step prints each rule it runs; a pack job
    lists several runs' history.csv on its output line)."""
    lines = re.findall(r"output: (.*)", log)
    return {run for line in lines for run in re.findall(r"(results/runs/\S+?)/history\.csv", line)}


def run_dirs(root: Path) -> list[str]:
    return sorted(
        str(p.parent.relative_to(root)) for p in (root / "results" / "runs").rglob("history.csv")
    )


def training_log(checkout: Path, run_dir: str, suffix: str = ".log") -> Path:
    return checkout / "logs" / "train" / f"{run_dir.removeprefix('results/runs/')}{suffix}"


@pytest.fixture(scope="module")
def partitions(slurm_env, tmp_path_factory) -> dict:
    """The cluster's partitions as the plugin's generate-slurm-partition-config writes them into a
    checkout (the command profiles/README.md gives), reviewed as it says: the cluster does not
    track GPUs as a TRES, so the generated file has no max_gpu; both partitions hold the node's
    GPU."""
    checkout = checkout_copy(tmp_path_factory.mktemp("generated"))
    result = run(GENERATE_PARTITIONS, checkout, slurm_env, limit=120)
    assert result.returncode == 0, output_of(result)
    generated = yaml.safe_load((checkout / "profiles/slurm/partitions.yaml").read_text())
    return {name: {**limits, "max_gpu": 1} for name, limits in generated["partitions"].items()}


# the plugin's command (in the environment's bin/, next to snakemake), as profiles/README.md has it
GENERATE_PARTITIONS = [
    str(Path(sys.executable).parent / "generate-slurm-partition-config"),
    "-o",
    "profiles/slurm/partitions.yaml",
]


@pytest.mark.slurm
def test_generated_partitions_count_the_unlimited_one(partitions, tmp_path):
    """The generated file describes `short` (20 minutes) and `long` (no limit, so no max_runtime):
    a CPU run of 47 minutes is not capped at short's 20 (issue 27: it was) and is trained as one
    job."""
    assert set(partitions) == {"short", "long"}, partitions
    path = tmp_path / "partitions.yaml"
    path.write_text(yaml.safe_dump({"partitions": partitions}))
    cluster = read_cluster(path)
    assert cluster.max_runtime == {"short": 20, "long": float("inf")}
    assert cluster.cap(0) == cluster.cap(1) == float("inf")
    resources = cluster.train_resources(47, gpu=0, attempt=1)
    assert resources["runtime"] == 47 and "slurm_extra" not in resources
    assert cluster.segments(47, 0) == 1


# the rules that train: `train`, and one `train_pack_<experiment>_…` per job of a packed experiment
SLURM_CONFIG_DATA = load_config(REPO / SLURM_CONFIG)
PACK_JOBS = pack_jobs(SLURM_CONFIG_DATA, everything=True)
TRAINING_RULES = ["train"] + [job.slot.rule for job in PACK_JOBS]
CONFIGS = [SLURM_CONFIG, "data.yaml"]  # data.yaml: where the tiny SVHN files are (svhn_data)
(PACK_RULE,) = [job.slot.rule for job in PACK_JOBS]  # beta_above_one's one job
MAIN_TARGETS = ["results/paper/claims.md", "results/paper/figures/divergence.png"]
SVHN_RUNS = [f"results/runs/svhn/svhn/cnn/score/M2/beta{b}/seed0" for b in (0, 1)]
PACK_RUN = "results/runs/beta_above_one/diabetes/mlp_narrow/regression/M3/beta1.5/seed0"
LONG_EPOCHS = 2500  # the pipeline's estimate for a diabetes run: 3.1 minutes, beyond the cap of 3
LONG_RUNS = [
    f"results/runs/diabetes/diabetes/mlp_narrow/regression/M3/beta{b}/seed0" for b in (0, 1)
]
NOISE = re.compile(
    r"invalid option|Error in (rule|group)|Failed to retrieve job data|guess|sbatch failed|Traceback",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def svhn_data(tmp_path_factory) -> dict:
    """Tiny files in SVHN's format (tests/data/raw_formats.py) and the `data:` section that points
    the downloads at them."""
    import hashlib

    from data.raw_formats import make_svhn

    root = tmp_path_factory.mktemp("svhn_sources")
    files = {
        "svhn_train": make_svhn(root, "train", 40)[0],
        "svhn_test": make_svhn(root, "test", 20, seed=5)[0],
    }
    return {
        "data": {
            "urls": {name: path.resolve().as_uri() for name, path in files.items()},
            "md5": {
                name: hashlib.md5(path.read_bytes()).hexdigest() for name, path in files.items()
            },
        }
    }


def slurm_checkout(
    where: Path, svhn_data: dict, partitions: dict | None = None, **workflow
) -> Path:
    """A checkout with the tests' data.yaml and, given partitions, its cluster file."""
    checkout = checkout_copy(where)
    (checkout / "data.yaml").write_text(yaml.safe_dump(svhn_data))
    if partitions is not None:
        adapt_to_cluster(checkout, partitions, **workflow)
    return checkout


def job_logs(checkout: Path, text: str) -> dict[str, Path]:
    """SLURM job id (an array task's: <array>_<task>) -> its SLURM log, for every submission."""
    logs = submissions(text)
    for tasks in array_submissions(
        text
    ).values():  # the plugin writes them as <rule dir>/<task>.log
        logs.update({task: checkout / "logs/slurm/rule_train" / f"{task}.log" for task in tasks})
    return logs


@pytest.fixture(scope="module")
def main_run(slurm_env, partitions, svhn_data, segments, tmp_path_factory):
    """The SLURM tests' configuration through `--profile slurm`, up to the claims and the divergence
    figure, on the partitions as generated. At the same time, its training locally (--cores 2) as
    the reference, and the segments scenario (started first)."""
    local = slurm_checkout(tmp_path_factory.mktemp("local"), svhn_data)
    on_slurm = slurm_checkout(tmp_path_factory.mktemp("slurm"), svhn_data, partitions)
    log = on_slurm.parent / "snakemake-slurm.log"
    started = time.monotonic()
    command = [*MAIN_TARGETS, "--profile", "slurm", "--configfile", *CONFIGS]
    command = snakemake_cmd(*command, *LOCAL_CLUSTER_OVERRIDES)
    process = start(command, on_slurm, with_own_src(slurm_env, on_slurm), log, limit=1200)
    try:
        result = run(
            snakemake_cmd("--cores", "2", "--configfile", *CONFIGS, "--until", *TRAINING_RULES),
            local,
            with_own_src(slurm_env, local),
            limit=900,
        )
        assert result.returncode == 0, output_of(result)[-5000:]
        local_seconds = time.monotonic() - started
        assert process.wait(timeout=1300) == 0, log.read_text()[-8000:]
    finally:
        stop(process)
    print(
        f"SLURM configuration: local training {local_seconds:.0f} s, "
        f"on SLURM {time.monotonic() - started:.0f} s"
    )
    text = log.read_text()
    return {
        "local": local,
        "slurm": on_slurm,
        "log": text,
        "jobs": job_logs(on_slurm, text),
        "env": slurm_env,
    }


@pytest.mark.slurm
@pytest.mark.slow
def test_every_training_run_went_through_sbatch(main_run):
    jobs = main_run["jobs"]
    assert jobs, "no job was submitted to SLURM"
    trained = set()
    for job_id, log in jobs.items():
        assert slurm_job(job_id, main_run["env"])["JobState"] == "COMPLETED", job_id
        trained |= trained_in(log.read_text())
    runs = set(run_dirs(main_run["local"]))
    assert len(runs) == 8, f"the SLURM configuration trains 8 runs: {sorted(runs)}"
    assert trained == runs, (
        f"not trained in a SLURM job: {sorted(runs - trained)[:3]}; unknown: {sorted(trained - runs)[:3]}"
    )
    for group in ("train_cpu", "analysis", "figures"):
        assert any(f"/group_{group}_" in str(log) for log in jobs.values()), (group, jobs)
    assert (main_run["slurm"] / "results" / "paper" / "claims.md").exists()


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
def test_results_on_slurm_equal_the_local_run(main_run):
    runs = run_dirs(main_run["local"])
    assert runs == run_dirs(main_run["slurm"])
    for run_dir in runs:  # one thread in both: CPU training is bit-reproducible
        assert_same_run(main_run["local"] / run_dir, main_run["slurm"] / run_dir)


@pytest.mark.slurm
@pytest.mark.slow
def test_gpu_runs_go_as_one_array_each_task_with_its_gpu(main_run):
    """The two SVHN runs (a GPU dataset) ask for a GPU each, the same request: one array of two
    tasks. The cluster's GPU is a stand-in (gres.conf File=/dev/null): the request path is proved,
    training still runs on the CPU and equals the local run."""
    arrays = array_submissions(main_run["log"])
    assert len(arrays) == 1, main_run["log"][-3000:]
    (tasks,) = arrays.values()
    assert len(tasks) == 2
    trained = set()
    for task in tasks:
        job = slurm_job(task, main_run["env"])
        assert "gpu:1" in job.get("TresPerJob", "") + job.get("TresPerNode", ""), job
        trained |= trained_in(main_run["jobs"][task].read_text())
    assert trained == set(SVHN_RUNS)


@pytest.mark.slurm
@pytest.mark.slow
def test_jobs_go_to_the_partition_that_fits_them(main_run):
    """The plugin picks from partitions.yaml: a job fitting `short` goes there, a longer one (a
    group job's runtime is its members' sum) to the unlimited `long`."""
    jobs = {job_id: slurm_job(job_id, main_run["env"]) for job_id in main_run["jobs"]}
    assert {job["Partition"] for job in jobs.values()} == {"short", "long"}, jobs
    for job_id, job in jobs.items():
        hours, minutes, _ = (int(x) for x in job["TimeLimit"].split(":"))
        if hours * 60 + minutes > 20:
            assert job["Partition"] == "long", (job_id, job["TimeLimit"], job["Partition"])


@pytest.mark.slurm
@pytest.mark.slow
def test_a_run_prints_nothing_that_looks_like_an_error(main_run):
    """No `sacct: invalid option` (the plugin's account guess), no error lines; the efficiency
    report, on in the profile, says why it is off on a cluster without accounting."""
    noise = sorted({m.group(0) for m in NOISE.finditer(main_run["log"])})
    assert not noise, f"{noise}: {main_run['log'][-5000:]}"
    assert "SLURM efficiency report: off, it needs SLURM accounting" in main_run["log"]


@pytest.fixture(scope="module")
def prepared(slurm_env, svhn_data, tmp_path_factory) -> Path:
    """The prepared data of the SLURM tests' configuration, made locally (the main run prepares
    its own on SLURM)."""
    checkout = slurm_checkout(tmp_path_factory.mktemp("prepared"), svhn_data)
    targets = ["resources/prepared/diabetes.npz", "resources/prepared/svhn.npz"]
    result = run(
        snakemake_cmd(*targets, "--cores", "2", "--configfile", *CONFIGS),
        checkout,
        with_own_src(slurm_env, checkout),
        limit=300,
    )
    assert result.returncode == 0, output_of(result)[-3000:]
    return checkout / "resources"


def capped_checkout(prepared, svhn_data, partitions, where: Path, **workflow) -> Path:
    """A checkout whose partitions.yaml caps jobs at 3 minutes (less than the partitions' MaxTime,
    as a user may give), with SLURM's warning 1 minute before, the prepared data, and a longer
    recipe for `diabetes` (longer.yaml): its runs are expected beyond the cap."""
    capped = {name: {**limits, "max_runtime": 3} for name, limits in partitions.items()}
    checkout = slurm_checkout(where, svhn_data, capped, signal_seconds=60, **workflow)
    shutil.copytree(prepared, checkout / "resources")
    recipe = SLURM_CONFIG_DATA["recipes"]["tiny_tabular"]
    longer = {"recipes": {"tiny_tabular": {**recipe, "epochs": LONG_EPOCHS}}}
    (checkout / "longer.yaml").write_text(yaml.safe_dump(longer))
    return checkout


def wait_for(condition, what: str, process: subprocess.Popen, log: Path, limit: float = 300):
    deadline = time.monotonic() + limit
    while not condition():
        assert process.poll() is None, f"the run ended before {what}: {log.read_text()[-4000:]}"
        assert time.monotonic() < deadline, (
            f"no {what} after {limit:.0f} s: {log.read_text()[-4000:]}"
        )
        time.sleep(0.5)


def attempt_lines(checkout: Path, run_dir: str) -> list[str]:
    path = training_log(checkout, run_dir, ".attempts.log")
    return path.read_text().splitlines() if path.exists() else []


def attempts(checkout: Path, run_dir: str) -> list[tuple[str, str]]:
    """(SLURM job, the lines it logged) for every start of a run's training job."""
    text = "\n".join(attempt_lines(checkout, run_dir))
    parts = re.split(r"^== \S+ \S+ SLURM job (\S+)\n", text, flags=re.M)
    return list(zip(parts[1::2], parts[2::2]))


def training_now(checkout: Path, run_dir: str) -> bool:
    """The run's latest start has trained an epoch."""
    runs = attempts(checkout, run_dir)
    return bool(runs) and bool(re.search(r"^epoch ", runs[-1][1], re.M))


def resumed_and_training(checkout: Path, run_dir: str) -> bool:
    runs = attempts(checkout, run_dir)
    return (
        len(runs) > 1 and runs[-1][1].startswith("resumed from") and training_now(checkout, run_dir)
    )


def segments_scenario(checkout: Path, env: dict, log: Path) -> list[str]:
    """Two runs expected beyond the cap, sent SLURM's warning once both train, one of them then
    preempted once it trains again (test_runs_longer_than_the_cap_...); the SLURM jobs."""
    targets = [f"{run}/history.csv" for run in LONG_RUNS]
    command = [*targets, "--profile", "slurm", "--configfile", *CONFIGS, "longer.yaml"]
    process = start(snakemake_cmd(*command, *LOCAL_CLUSTER_OVERRIDES), checkout, env, log, 1200)
    try:
        wait_for(
            lambda: all(training_now(checkout, r) for r in LONG_RUNS), "training", process, log, 900
        )
        jobs = list(submissions(log.read_text()))
        warn = subprocess.run(
            ["scancel", "--signal=USR1", *jobs], env=env, capture_output=True, text=True
        )
        assert warn.returncode == 0, warn.stderr
        wait_for(
            lambda: resumed_and_training(checkout, LONG_RUNS[0]), "a resumed run", process, log, 900
        )
        preempted = attempts(checkout, LONG_RUNS[0])[-1][0]
        preempt = subprocess.run(
            ["scontrol", "requeue", preempted], env=env, capture_output=True, text=True
        )
        assert preempt.returncode == 0, preempt.stderr
        assert process.wait(timeout=1200) == 0, log.read_text()[-5000:]
    finally:
        stop(process)
    return jobs


@pytest.fixture(scope="module")
def segments(slurm_env, prepared, svhn_data, partitions, tmp_path_factory):
    """The segments scenario, run in the background from before the main run on: its waits (job
    starts, requeues) overlap the main run's."""
    from concurrent.futures import ThreadPoolExecutor

    checkout = capped_checkout(
        prepared, svhn_data, partitions, tmp_path_factory.mktemp("segments") / "checkout"
    )
    env = with_own_src(slurm_env, checkout)
    log = checkout.parent / "snakemake.log"
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield {
            "checkout": checkout,
            "env": env,
            "log": log,
            "jobs": pool.submit(segments_scenario, checkout, env, log),
        }


@pytest.mark.slurm
@pytest.mark.slow
def test_runs_longer_than_the_cap_train_in_segments_and_resume_after_a_requeue(segments):
    """Two runs expected beyond the 3-minute cap are submitted alone, at the cap, with SLURM's
    warning. Rather than wait for SLURM's warning (when training reaches it depends on the
    machine), the test sends it as SLURM does (`scancel --signal=USR1`: every job step) once both
    train: each saves its checkpoint and requeues itself; SLURM starts it again and it resumes.
    Then one is preempted (`scontrol requeue`) while it trains again, and resumes again. Segments
    are no failures: nothing is resubmitted, no error printed."""
    jobs = segments["jobs"].result(timeout=1500)
    checkout, env, log = segments["checkout"], segments["env"], segments["log"]
    text = log.read_text()
    assert not array_submissions(text), "runs in segments must not go in an array"
    assert sorted(submissions(text)) == sorted(jobs), "a segment was resubmitted by Snakemake"
    states = {job: slurm_job(job, env) for job in jobs}
    assert all(
        job["JobState"] == "COMPLETED" and job["TimeLimit"] == "00:03:00" for job in states.values()
    ), states
    for run_dir, least in zip(LONG_RUNS, (3, 2)):  # SLURM's own warning may add segments
        runs = attempts(checkout, run_dir)
        assert len(runs) >= least, runs
        assert states[runs[0][0]]["Restarts"] == str(len(runs) - 1), (runs, states)
        resumed_at = 0
        for (_, before), (_, after) in zip(runs, runs[1:]):
            stopped = re.search(r"^stopped after epoch (\d+), checkpoint saved", before, re.M)
            resumed = re.match(r"resumed from \S+ after epoch (\d+) \(running\)", after)
            assert resumed, after[:300]
            if stopped:  # a segment ends where the next resumes
                assert "the job requeues itself" in before and resumed[1] == stopped[1], (
                    before,
                    after,
                )
            else:  # preempted: from the last checkpoint, the segment's or a periodic one
                assert int(resumed[1]) >= resumed_at, (before[-300:], after[:300])
            resumed_at = int(resumed[1])
        assert "stopped after epoch" in runs[0][1], runs[0][1][-300:]
        history = pd.read_csv(checkout / run_dir / "history.csv")
        assert list(history["epoch"]) == list(range(1, LONG_EPOCHS + 1))
    noise = sorted({m.group(0) for m in NOISE.finditer(text)})
    assert not noise, f"{noise}: {text[-4000:]}"


@pytest.mark.slurm
@pytest.mark.slow
def test_a_run_that_cannot_work_on_the_cluster_refuses_to_start_saying_why(
    slurm_env, prepared, svhn_data, partitions, tmp_path
):
    """Without --slurm-status-command squeue the run would wait forever (sacct cannot answer
    without accounting), and the GPU model partitions.yaml asks for is not on the cluster (it
    would be refused at every submission): both are said at start, with their fixes, and nothing
    is submitted."""
    checkout = slurm_checkout(tmp_path / "start", svhn_data, partitions, gpu_model="h100")
    shutil.copytree(prepared, checkout / "resources")
    targets = [f"{run}/history.csv" for run in SVHN_RUNS]
    result = run(
        snakemake_cmd(*targets, "--profile", "slurm", "--configfile", *CONFIGS),
        checkout,
        with_own_src(slurm_env, checkout),
        limit=300,
    )
    out = output_of(result)
    assert result.returncode != 0
    assert "this run cannot work on this SLURM cluster" in out, out[-3000:]
    assert "add --slurm-status-command squeue" in out, out[-3000:]
    assert "jobs ask for 1 GPU(s) of model h100, which no node of this cluster has" in out, out[
        -3000:
    ]
    assert "--set-resources train:gpu=0" in out
    assert not submissions(out) and not array_submissions(out)


def report_section(report: str, job: str, containing: str) -> str:
    """The part of the failure report about one failed job (`== <job> ==`) that contains a text."""
    sections = [part for part in report.split("\n== ")[1:] if part.startswith(f"{job} ==")]
    found = [part for part in sections if containing in part]
    assert found, f"no section '{job}' with {containing!r}: {report[-6000:]}"
    return found[0]


@pytest.mark.slurm
@pytest.mark.slow
def test_a_refused_job_shows_the_cause_sbatch_gave_for_that_submission(
    slurm_env, prepared, svhn_data, partitions, tmp_path
):
    """sbatch refuses a group job (the pack, in train_cpu) and an array (the two GPU runs) that ask
    for a node feature the cluster lacks (the README's `constraint` example): the report shows
    sbatch's own answer and the options of those submissions (the partition the plugin chose, the
    constraint), for every attempt."""
    checkout = slurm_checkout(tmp_path / "refused", svhn_data, partitions)
    shutil.copytree(prepared, checkout / "resources")
    targets = [f"{run}/history.csv" for run in [*SVHN_RUNS, PACK_RUN]]
    result = run(
        snakemake_cmd(
            *targets,
            "--profile",
            "slurm",
            "--configfile",
            *CONFIGS,
            *LOCAL_CLUSTER_OVERRIDES,
            "--set-resources",
            "train:constraint=v100",
            f"{PACK_RULE}:constraint=v100",
        ),
        checkout,
        with_own_src(slurm_env, checkout),
        limit=600,
    )
    report = output_of(result)
    assert result.returncode != 0
    assert "--test-only" not in report
    refusal = "sbatch: error: Batch job submission failed: Invalid feature specification"
    submission = r"the submission: sbatch .* -p \S+ .*-C '?v100"
    group = report_section(report, "group train_cpu", "sbatch refused it")
    assert f"sbatch refused it: {refusal}" in group, group
    assert re.search(submission, group), group
    array = report_section(report, "rule train", "sbatch refused the array it was in")
    assert f"sbatch refused the array it was in (tasks 1-2): {refusal}" in array, array
    assert re.search(submission + r".* --gpus=1 --array=1-2", array), array


@pytest.mark.slurm
@pytest.mark.slow
def test_sigterm_stops_the_submitting_run_within_30_s_without_a_stale_lock(
    slurm_env, prepared, svhn_data, partitions, tmp_path
):
    """SIGTERM (a closing terminal, `kill`) ends the run as Ctrl-C does: its SLURM job cancelled,
    its lock released, within 30 s (issue 27: it waited for the running jobs, then needed SIGKILL)."""
    checkout = capped_checkout(prepared, svhn_data, partitions, tmp_path / "sigterm")
    env = with_own_src(slurm_env, checkout)
    log = tmp_path / "snakemake.log"
    command = [f"{LONG_RUNS[0]}/history.csv", "--profile", "slurm", "--configfile", *CONFIGS]
    command = snakemake_cmd(*command, "longer.yaml", *LOCAL_CLUSTER_OVERRIDES)
    process = start(command, checkout, env, log)  # no `timeout`: SIGTERM goes to snakemake
    try:
        wait_for(lambda: training_now(checkout, LONG_RUNS[0]), "training", process, log)
        stopped = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
        seconds = time.monotonic() - stopped
    finally:
        stop(process)
    assert seconds <= 30, f"{seconds:.0f} s: {log.read_text()[-3000:]}"
    locks = list((checkout / ".snakemake" / "locks").glob("*"))
    assert not locks, f"stale lock: {locks}"
    text = log.read_text()
    jobs = [*array_submissions(text), *submissions(text)]
    assert len(jobs) == 1, text[-3000:]
    deadline = time.monotonic() + 60  # COMPLETING while SLURM ends its processes
    while slurm_job(jobs[0], env)["JobState"] == "COMPLETING" and time.monotonic() < deadline:
        time.sleep(1)
    assert slurm_job(jobs[0], env)["JobState"] == "CANCELLED", text[-3000:]
