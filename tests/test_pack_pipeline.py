"""Packs and the training rules through the real Snakefile: one run's file builds its pack, an edit
to the training code plans the reruns, and a failing job's traceback reaches its log and the console."""

import json
import re

import pytest
import yaml

from pipeline_helpers import copy_workflow, snakemake

pytestmark = pytest.mark.slow

CONFIG = {
    "experiments": {
        "packed": {
            "dataset": "diabetes",
            "models": ["narrow"],
            "aggregations": ["regression"],
            "ensemble_sizes": [2],
            "betas": [0, 0.5, 1.5],
            "seeds": [0, 1],
            "recipe": "short",
            "pack_seeds": 1,
        },
        "seeded": {
            "dataset": "diabetes",
            "models": ["narrow"],
            "aggregations": ["regression"],
            "ensemble_sizes": [2],
            "betas": [0, 1],
            "seeds": [0, 1, 2],
            "recipe": "short",
            "pack_seeds": 2,
        },
        "single": {
            "dataset": "diabetes",
            "models": ["narrow"],
            "aggregations": ["regression"],
            "ensemble_sizes": [2],
            "betas": [0, 1],
            "seeds": [0],
            "recipe": "short",
            "pack_betas": False,
        },
    },
    "models": {"narrow": {"arch": "mlp", "hidden": [4]}},
    "recipes": {"short": {"lr": 0.01, "epochs": 2, "batch_size": 64}},
}
RUN = "results/runs/{experiment}/diabetes/narrow/regression/M2/beta{beta}/seed{seed}"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("packs"))
    (workdir / "packs.yaml").write_text(yaml.safe_dump(CONFIG))
    return workdir


def run(workdir, *args):
    return snakemake(workdir, *args, "--cores", "1", "--configfile", "packs.yaml")


def test_one_runs_file_builds_its_pack_and_every_run_of_it(workdir):
    target = RUN.format(experiment="packed", beta="0.5", seed=0) + "/history.csv"
    result = run(workdir, target)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train_pack_packed" in result.stderr and "rule train:" not in result.stderr
    # the job's progress reaches the console (collusion.progress), its log has a line per epoch
    assert "[packed narrow regression M2] seed 0, β 0 0.5 1.5 (3 runs): epoch 1/2" in result.stderr
    log = workdir / "logs/train/packed/diabetes/narrow/regression/M2/pack/seed0.log"
    epochs = [line for line in log.read_text().splitlines() if line.startswith("epoch")]
    assert [line.split(":")[0] for line in epochs] == [
        f"epoch {e}/2 seed 0, β [0 0.5 1.5]" for e in (1, 2)
    ]
    for beta in ("0", "0.5", "1.5"):
        run_dir = workdir / RUN.format(experiment="packed", beta=beta, seed=0)
        provenance = json.loads((run_dir / "provenance.json").read_text())
        assert provenance["pack"]["betas"] == [0.0, 0.5, 1.5]
        assert provenance["config"]["run"]["beta"] == float(beta)
    assert not (
        workdir / RUN.format(experiment="packed", beta="0", seed=1)
    ).exists()  # the other seed's pack
    assert (
        workdir / "results/runs/packed/diabetes/narrow/regression/M2/pack/seed0/checkpoint.pt"
    ).exists()
    single = run(workdir, RUN.format(experiment="single", beta="1", seed=0) + "/history.csv")
    assert single.returncode == 0 and "rule train:" in single.stderr, single.stderr[-3000:]


def test_one_runs_file_builds_the_job_of_its_seeds(workdir):
    target = RUN.format(experiment="seeded", beta="1", seed=1) + "/history.csv"
    result = run(workdir, target)
    assert result.returncode == 0, result.stderr[-3000:]
    job = "train_pack_seeded_narrow_regression_M2_seeds0_1"
    assert job in result.stderr and "rule train:" not in result.stderr
    for seed in (0, 1):  # the job of seeds 0 and 1; seed 2 has a job of its own
        for beta in ("0", "1"):
            provenance = json.loads(
                (
                    workdir
                    / RUN.format(experiment="seeded", beta=beta, seed=seed)
                    / "provenance.json"
                ).read_text()
            )
            assert provenance["job"]["rule"] == job
            assert provenance["config"]["run"]["seed"] == seed and provenance["pack"]["betas"] == [
                0.0,
                1.0,
            ]
            assert provenance["pack"]["seeds"] == [0, 1]  # stacked MLPs: one program
    # the job's one program keeps its checkpoint in the job's directory
    job_dir = workdir / "results/runs/seeded/diabetes/narrow/regression/M2/pack/seeds0_1"
    assert (job_dir / "checkpoint.pt").exists()
    assert not (workdir / RUN.format(experiment="seeded", beta="0", seed=2)).exists()
    assert (workdir / "logs/train/seeded/diabetes/narrow/regression/M2/pack/seeds0_1.log").exists()
    assert not (job_dir / "job.json").exists()
    plan = run(workdir, "-n", RUN.format(experiment="seeded", beta="0", seed=2) + "/history.csv")
    assert "train_pack_seeded_narrow_regression_M2_seed2" in plan.stdout, plan.stdout[-3000:]


def test_an_edit_to_the_training_code_plans_the_reruns(workdir):
    targets = [
        RUN.format(experiment="packed", beta="0.5", seed=0) + "/history.csv",
        RUN.format(experiment="single", beta="1", seed=0) + "/history.csv",
    ]
    for target in targets:  # built by the test above, or now
        assert run(workdir, target).returncode == 0
    assert "Nothing to be done" in run(workdir, "-n", *targets).stdout
    objective = workdir / "src" / "collusion" / "objective.py"
    original = objective.read_text()
    objective.write_text(original + "\n# an edit to the training code\n")
    try:
        plan = run(workdir, "-n", *targets)
        assert plan.returncode == 0, plan.stderr[-3000:]
        assert "train_pack_packed" in plan.stdout and "train " in plan.stdout, plan.stdout[-3000:]
        assert "Params have changed" in plan.stdout + plan.stderr
    finally:
        objective.write_text(original)
    assert "Nothing to be done" in run(workdir, "-n", *targets).stdout


def test_a_failing_job_reports_its_traceback_in_the_log_and_on_the_console(workdir):
    # a misspelt option or a negative width is refused at start now (tests/test_start_checks.py,
    # tests/test_own_inputs.py); a learner of one's own returning (N,) instead of (N, 1) passes
    # the start checks and fails inside the job, at its forward check before it trains
    (workdir / "flat.py").write_text(
        "import torch.nn as nn\n\n\ndef build(in_shape, out_dim):\n"
        "    return nn.Sequential(nn.Linear(in_shape[0], out_dim), nn.Flatten(0))\n"
    )
    # another configuration in this working directory: under a root of its own (the module's
    # root records packs.yaml, collusion.root_owner), its logs in <root>/logs
    root = "results/broken"
    broken = {**CONFIG, "results_root": root, "models": {"narrow": {"arch": "flat.py:build"}}}
    (workdir / "broken.yaml").write_text(yaml.safe_dump(broken))
    run_dir = RUN.format(experiment="packed", beta="0", seed=1).replace("results/", f"{root}/", 1)
    result = snakemake(
        workdir, run_dir + "/history.csv", "--cores", "1", "--configfile", "broken.yaml"
    )
    assert result.returncode != 0
    log_path = f"{root}/logs/train/packed/diabetes/narrow/regression/M2/pack/seed1.log"
    log = (workdir / log_path).read_text()
    shapes = "to (2,); a learner must return one row of out_dim = 1 values per example"
    assert "Traceback" in log and shapes in log, log
    job = "train_pack_packed_narrow_regression_M2_seed1"
    assert f"training job {job} failed" in log
    assert f"training job {job} failed" in result.stderr and shapes in result.stderr
    assert not (workdir / run_dir).exists()
    # the onerror handler (Snakefile): the failed job, where its log is, and how it ends
    report = result.stderr[result.stderr.index("1 job(s) failed; their logs:") :]
    assert f"== rule {job} ==" in report
    assert f"-- last 15 lines of {log_path}:" in report
    assert shapes in report


def test_the_longest_training_jobs_have_the_highest_priority(tmp_path):
    """Locally Snakemake starts the ready job of highest priority: a training job's is its expected
    minutes (costs.train_resources), so the longest start first and none is left to run alone at
    the end; the other rules keep the default priority 0. (A checkout where nothing is trained:
    a finished packed run is no pack job's.)"""
    from collusion import costs, pipeline
    from collusion.config_errors import check

    workdir = copy_workflow(tmp_path)
    (workdir / "packs.yaml").write_text(yaml.safe_dump(CONFIG))

    targets = [
        RUN.format(experiment=experiment, beta="0", seed=seed) + "/history.csv"
        for experiment, seed in (("packed", 0), ("seeded", 0), ("seeded", 2), ("single", 0))
    ]
    plan = run(workdir, "-n", "--forceall", *targets)
    assert plan.returncode == 0, plan.stderr[-3000:]
    priorities = {}
    for block in plan.stdout.split("rule ")[1:]:
        name = block.split(":", 1)[0]
        found = re.search(r"^\s+priority: (\S+)$", block, re.M)
        wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        key = (name, wildcards.group(1) if wildcards else "")
        priorities[key] = float(found.group(1)) if found else 0.0
    training = {key: p for key, p in priorities.items() if key[0].startswith("train")}
    assert all(p == 0 for k, p in priorities.items() if k not in training)
    config = check(yaml.safe_load((workdir / "packs.yaml").read_text()))
    run_of = {  # each job's first run, and how many runs it trains
        ("train_pack_packed_narrow_regression_M2_seed0", ""): (
            pipeline.Run("packed", "diabetes", "narrow", "regression", 2, 0.0, 0),
            3,
        ),
        ("train_pack_seeded_narrow_regression_M2_seeds0_1", ""): (
            pipeline.Run("seeded", "diabetes", "narrow", "regression", 2, 0.0, 0),
            4,
        ),
        ("train_pack_seeded_narrow_regression_M2_seed2", ""): (
            pipeline.Run("seeded", "diabetes", "narrow", "regression", 2, 0.0, 2),
            2,
        ),
    }
    run_of[("train", "experiment=single")] = (
        pipeline.Run("single", "diabetes", "narrow", "regression", 2, 0.0, 0),
        1,
    )
    for (name, wildcards), (first, runs) in run_of.items():
        (key,) = [k for k in training if k[0] == name and wildcards in k[1]]
        assert training[key] == pytest.approx(
            costs.train_resources(config, first, runs)["minutes"], rel=1e-6
        )
    assert (
        training[next(k for k in training if k[0].endswith("seeded_narrow_regression_M2_seeds0_1"))]
        > training[next(k for k in training if k[0].endswith("packed_narrow_regression_M2_seed0"))]
        > training[next(k for k in training if k[0].endswith("seeded_narrow_regression_M2_seed2"))]
    )
