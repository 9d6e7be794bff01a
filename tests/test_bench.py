"""The benchmark command runs end to end at a tiny size and writes sane rows (no timing asserted)."""

import math

import pandas as pd
import pytest

from collusion import bench


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
    for model, group in rows.groupby("model"):
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
    rows = bench.pipeline_rows(tmp_path)
    assert [row["measurement"] for row in rows] == [
        "snakemake -n",
        "snakemake: 1 train job",
        "snakemake: 3 train jobs",
        "python -c 'import collusion.runner'",
        "train job in-process",
        "per-job start-up under snakemake",
    ]
    assert int(rows[0]["jobs"]) > 1 and all(row["seconds"] > 0 for row in rows[:5])
    assert rows[2]["seconds"] > rows[1]["seconds"]
    for n in (1, 3):  # the jobs did run
        assert len(list((tmp_path / f"jobs{n}").glob("results/runs/**/history.csv"))) == n
