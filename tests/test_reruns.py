"""Reruns do exactly what changed (collusion.plan, collusion.fingerprint), through the real
Snakefile: adding a β, a seed or an M trains only the new runs and leaves the others' files as they
were; -R and --forcerun still retrain what they name; a model file no run uses retrains nothing,
an edit to the one a run uses retrains it; planning never imports torch."""

import copy
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

from pipeline_helpers import SNAKEMAKE, copy_workflow, snakemake

pytestmark = pytest.mark.slow

CONFIG = {
    "experiments": {
        "grow": {
            "dataset": "diabetes",
            "models": ["narrow"],
            "aggregations": ["regression"],
            "ensemble_sizes": [2],
            "betas": [0, 1],
            "seeds": [0, 1],
            "recipe": "short",
            "pack_seeds": 2,
        },
    },
    "models": {"narrow": {"arch": "mlp", "hidden": [4]}},
    "recipes": {"short": {"lr": 0.01, "epochs": 2, "batch_size": 64}},
}
RUN = "results/runs/grow/diabetes/narrow/regression/M{members}/beta{beta}/seed{seed}"
FILES = ("history.csv", "predictions.npz", "provenance.json")


def targets(config):
    exp = config["experiments"]["grow"]
    return [
        RUN.format(members=m, beta=f"{b:g}", seed=s) + "/history.csv"
        for m in exp["ensemble_sizes"]
        for b in exp["betas"]
        for s in exp["seeds"]
    ]


def run(workdir, config, *args):
    (workdir / "grow.yaml").write_text(yaml.safe_dump(config))
    return snakemake(workdir, *targets(config), *args, "--cores", "1", "--configfile", "grow.yaml")


def planned(stdout: str) -> list[dict]:
    """A dry run's jobs: each one's rule, outputs (a pack job's receipt aside) and reason."""
    jobs = []
    for block in re.split(r"^\s*rule ", stdout, flags=re.M)[1:]:  # a group's jobs are indented
        output = re.search(r"^\s+output: (.*)$", block, re.M)
        reason = re.search(r"^\s+reason: (.*)$", block, re.M)
        outputs = output.group(1).split(", ") if output else []
        jobs.append(
            {
                "rule": block.split(":", 1)[0].strip(),
                "outputs": [o for o in outputs if not o.endswith(".done")],  # a receipt
                "reason": reason.group(1) if reason else "",
            }
        )
    return jobs


def training(stdout: str) -> list[dict]:
    return [job for job in planned(stdout) if job["rule"].startswith("train")]


def files(workdir):
    """Every run file: its bytes and modification time."""
    return {
        path: (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted((workdir / "results" / "runs" / "grow").rglob("*"))
        if path.name in FILES
    }


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("reruns"))
    result = run(workdir, CONFIG)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def test_adding_a_beta_a_seed_and_an_m_trains_only_the_new_runs(workdir):
    before = files(workdir)
    assert len(before) == 4 * 3
    grown = copy.deepcopy(CONFIG)
    grown["experiments"]["grow"].update(betas=[0, 0.5, 1], seeds=[0, 1, 2], ensemble_sizes=[2, 3])
    plan = run(workdir, grown, "-n")
    assert plan.returncode == 0, plan.stderr[-3000:]
    jobs = {job["rule"]: job for job in training(plan.stdout)}
    outputs = {output for job in jobs.values() for output in job["outputs"]}
    old = {str(path.relative_to(workdir)) for path in before}
    assert outputs and not outputs & old, sorted(outputs & old)
    assert len(outputs) == 3 * (2 * 3 * 3 - 4)  # every new run, nothing else
    # the job of seeds 0 and 1 at M = 2 trains their new β only
    assert sorted(jobs["train_pack_grow_narrow_regression_M2_seeds0_1"]["outputs"]) == sorted(
        RUN.format(members=2, beta="0.5", seed=s) + f"/{name}" for s in (0, 1) for name in FILES
    )

    result = run(workdir, grown)
    assert result.returncode == 0, result.stderr[-3000:]
    after = files(workdir)
    assert {path: after[path] for path in before} == before  # neither retrained nor rewritten
    assert len(after) == 3 * 2 * 3 * 3
    provenance = json.loads(
        (workdir / RUN.format(members=2, beta="0.5", seed=1) / "provenance.json").read_text()
    )
    assert provenance["pack"]["betas"] == [0.5] and provenance["pack"]["seeds"] == [0, 1]
    assert "Nothing to be done" in run(workdir, grown, "-n").stdout
    (workdir / "grow.yaml").write_text(yaml.safe_dump(CONFIG))


def test_a_forced_rerun_retrains_what_it_names(workdir):
    """A finished run of a packed experiment is held by the rule train: forced, it retrains
    alone, exactly as in its pack."""
    one = RUN.format(members=2, beta="1", seed=0) + "/history.csv"
    plan = run(workdir, CONFIG, "-n", "--forcerun", one)
    assert [(job["rule"], job["outputs"]) for job in training(plan.stdout)] == [
        ("train", [RUN.format(members=2, beta="1", seed=0) + f"/{name}" for name in FILES])
    ], plan.stdout[-3000:]
    # the rule train: every run, packed ones too
    plan = run(workdir, CONFIG, "-n", "-R", "train")
    outputs = {o for job in training(plan.stdout) for o in job["outputs"]}
    assert set(targets(CONFIG)) <= outputs, plan.stdout[-3000:]

    before = files(workdir)
    result = run(workdir, CONFIG, "--forcerun", one)
    assert result.returncode == 0, result.stderr[-3000:]
    after = files(workdir)
    changed = {
        path.relative_to(workdir).as_posix() for path in before if after[path] != before[path]
    }
    assert changed == {RUN.format(members=2, beta="1", seed=0) + f"/{name}" for name in FILES}
    provenance = json.loads((workdir / one).with_name("provenance.json").read_text())
    assert provenance["job"]["rule"] == "train" and provenance["pack"] is None
    assert "Nothing to be done" in run(workdir, CONFIG, "-n").stdout


def test_a_model_file_no_run_uses_retrains_nothing_and_the_one_it_uses_retrains_it(workdir):
    models = workdir / "src" / "collusion" / "models"
    shutil.copy(models / "vit.py", models / "vit_copy.py")  # a new learner, used by no run
    try:
        plan = run(workdir, CONFIG, "-n")
        assert "Nothing to be done" in plan.stdout, plan.stdout[-3000:]
    finally:
        (models / "vit_copy.py").unlink()
    small = models / "small.py"  # the MLP's module
    original = small.read_text()
    small.write_text(original + "\n# an edit to the learner this experiment trains\n")
    try:
        plan = run(workdir, CONFIG, "-n")
        [job] = training(plan.stdout)
        assert job["rule"] == "train_pack_grow_narrow_regression_M2_seeds0_1"
        assert len(job["outputs"]) == 4 * 3 and "Params have changed" in job["reason"], job
    finally:
        small.write_text(original)
    assert "Nothing to be done" in run(workdir, CONFIG, "-n").stdout


def test_planning_a_workflow_never_imports_torch(workdir, tmp_path):
    blocked = tmp_path / "blocked"
    (blocked / "torch").mkdir(parents=True)
    (blocked / "torch" / "__init__.py").write_text(
        "raise ImportError('planning the workflow imported torch')\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocked), str(workdir / "src")])}
    (workdir / "grow.yaml").write_text(yaml.safe_dump(CONFIG))
    result = subprocess.run(
        [*SNAKEMAKE, "-n", "-F", *targets(CONFIG), "--cores", "1", "--configfile", "grow.yaml"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert re.search(r"^train\S*\s+\d+$", result.stdout, re.M), result.stdout[-2000:]  # job stats
