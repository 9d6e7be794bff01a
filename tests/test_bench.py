"""The benchmark command runs end to end at a tiny size and writes sane rows (no timing asserted)."""

import math
import subprocess
import sys

import pandas as pd
import pytest

from collusion import bench
from collusion.bench import cli


def test_quick_benchmark_writes_sane_rows(tmp_path):
    bench.main(
        [
            "--quick",
            "--models",
            "mlp,cnn",
            "--executions",
            "auto,vmapped",
            "--members",
            "3",
            "--out",
            str(tmp_path),
            "--no-pipeline",
            "--threads",
            "1",
        ]
    )
    rows = pd.read_csv(tmp_path / "results.csv")
    assert list(rows.columns) == bench.RESULT_COLUMNS
    assert not (tmp_path / "pipeline.csv").exists()
    # per model: the authors' loop, then ours under auto and under vmapped
    assert list(zip(rows.model, rows.implementation, rows.execution)) == [
        ("mlp", "authors_loop", "loop"),
        ("mlp", "ours", "stacked"),
        ("mlp", "ours", "vmapped"),
        ("cnn", "authors_loop", "loop"),
        ("cnn", "ours", "loop"),
        ("cnn", "ours", "vmapped"),
    ]
    assert (rows.M == 3).all() and (rows.epochs == 1).all() and (rows.n_train == 256).all()
    assert (rows.dataset == "digits").all() and (rows.threads == 1).all()
    assert (rows.images_per_s > 0).all() and (rows.peak_memory_mb >= 0).all()
    assert rows.test_accuracy.between(0, 1).all()
    for _, group in rows.groupby("model"):
        authors = group[group.implementation == "authors_loop"].iloc[0]
        assert authors.ratio_vs_authors == 1
        for _, ours in group[group.implementation == "ours"].iterrows():
            assert math.isclose(
                ours.ratio_vs_authors, ours.images_per_s / authors.images_per_s, rel_tol=0.01
            )
    # a second invocation appends under the same header
    bench.main(
        [
            "--quick",
            "--models",
            "mlp",
            "--executions",
            "auto",
            "--no-authors",
            "--out",
            str(tmp_path),
            "--no-pipeline",
        ]
    )
    again = pd.read_csv(tmp_path / "results.csv")
    assert len(again) == 7 and again.ratio_vs_authors.iloc[-1:].isna().all()


def test_bad_arguments_name_the_allowed_values(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--models", "mlp,transformer"])
    assert "unknown ['transformer']; models: mlp, cnn, resnet18" in capsys.readouterr().err


def test_synthetic_cifar_is_learnable_by_class(tmp_path):
    """Each class has its own pattern, so the accuracy column means something on synthetic data."""
    import numpy as np

    path = bench.synthetic_cifar(tmp_path / "c.npz", n_train=200, n_test=100)
    with np.load(path) as archive:
        X, y = archive["X"].astype(float), archive["y"]
        assert X.shape == (300, 3, 32, 32) and archive["X"].dtype == np.uint8
        train, test = archive["train_idx"], archive["test_idx"]
    means = np.stack([X[train][y[train] == c].mean(axis=0) for c in range(10)])
    distance = ((X[test][:, None] - means[None]) ** 2).sum(axis=(2, 3, 4))
    assert (distance.argmin(axis=1) == y[test]).mean() > 0.5  # a nearest-mean classifier


@pytest.mark.slow
def test_pipeline_overhead_rows(tmp_path):
    from collusion.bench.pipeline_overhead import pipeline_rows

    rows = pipeline_rows(tmp_path)
    assert [row["measurement"] for row in rows] == [
        "snakemake -n",
        "snakemake: 1 train job",
        "snakemake: 3 train jobs",
        "python -c 'import collusion.job'",
        "train job in-process",
        "per-job start-up under snakemake",
    ]
    assert int(rows[0]["jobs"]) > 1 and all(row["seconds"] > 0 for row in rows[:5])
    assert rows[2]["seconds"] > rows[1]["seconds"]
    for n in (1, 3):  # the jobs did run
        assert len(list((tmp_path / f"jobs{n}").glob("results/runs/**/history.csv"))) == n


def test_resnet18_case_is_the_papers_cifar_recipe():
    """The benchmark's ResNet-18 stands for config/paper.yaml's CIFAR job: same learner, recipe
    and epochs (the extrapolation's)."""
    import yaml

    paper = yaml.safe_load((bench.cases.REPO / "config" / "paper.yaml").read_text())
    case, recipe = bench.CASES["resnet18"], paper["recipes"]["cifar"]
    assert {"arch": case.arch, **case.options} == paper["models"]["resnet18"]
    assert case.recipe == {key: recipe[key] for key in case.recipe}
    assert case.augment == recipe["augment"] and case.job["epochs"] == recipe["epochs"]


def test_extrapolated_job_is_epochs_times_train_and_evaluation_time():
    case = bench.Case(
        "mlp", {}, "digits", {}, job={"epochs": 80, "n_train": 40000, "n_eval": 60000}
    )
    # 40,000 images at 20,000/s (2 s) + 60,000 at 60,000/s (1 s), 80 times
    assert bench.measure.extrapolated_job_seconds(case, 20000.0, 60000.0) == 240.0
    assert bench.measure.extrapolated_job_seconds(bench.CASES["mlp"], 1.0, 1.0) is None


def test_steps_that_reach_the_end_of_an_epoch_are_refused(tmp_path):
    with pytest.raises(SystemExit, match=r"= 19200 images, more than the 256 .*--train-size"):
        bench.main(
            [
                "--quick",
                "--models",
                "mlp",
                "--steps",
                "100",
                "--epochs",
                "3",
                "--no-pipeline",
                "--out",
                str(tmp_path),
            ]
        )
    assert not (tmp_path / "results.csv").exists()


def test_a_failed_run_is_reported_and_the_next_runs_rows_are_written(tmp_path, monkeypatch, capsys):
    def broken(*args):
        raise RuntimeError("CUDA out of memory (a stand-in)")

    monkeypatch.setitem(cli.IMPLEMENTATIONS, "authors_loop", broken)
    argv = ["--quick", "--models", "mlp", "--executions", "auto", "--no-pipeline"]
    with pytest.raises(SystemExit, match=r"1 runs failed .*authors_loop"):
        bench.main([*argv, "--out", str(tmp_path)])
    assert "RuntimeError: CUDA out of memory (a stand-in)" in capsys.readouterr().err
    rows = pd.read_csv(tmp_path / "results.csv")
    assert list(zip(rows.implementation, rows.execution)) == [("ours", "stacked")]
    assert rows.ratio_vs_authors.isna().all() and rows.torch.notna().all()


def test_rows_are_not_appended_under_another_header(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("date,commit,device\n")
    with pytest.raises(SystemExit, match="other columns than this version writes"):
        cli.append_csv(path, bench.RESULT_COLUMNS, [{}])
    assert path.read_text() == "date,commit,device\n"


def test_the_benchmark_and_the_gpu_check_import_no_workflow_package():
    """The GPU image lacks snakemake and jsonschema: the check's steps that need neither must not
    import them (the pipeline overhead, which does, is imported only when measured)."""
    code = (
        "import sys, collusion.bench, collusion.bench.gpu_check, collusion.bench.evaluation; "
        "print(sorted({'jsonschema', 'snakemake', 'yaml'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
