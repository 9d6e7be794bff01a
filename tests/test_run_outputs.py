"""Downstream rules check the run outputs they read and name the file when one is cut short,
corrupt or inconsistent with provenance.json. One run of the tiny configuration (diabetes, β = 1,
8 epochs; the session's conftest.tiny_run, copied) serves every probe: two through Snakemake, the
rest on copies of its files."""

from __future__ import annotations

import copy
import json
import shutil

import numpy as np
import pytest

from collusion.analysis import RunOutputError, load_predictions, read_history, read_outcome
from pipeline_helpers import TINY, copy_run, snakemake

pytestmark = pytest.mark.slow

RUN = "results/runs/diabetes/diabetes/mlp_narrow/regression/M3/beta1/seed0"
GEN_GAP, DEBIAS = "results/tables/diabetes/gen_gap.csv", "results/tables/diabetes/debias.csv"


@pytest.fixture(scope="module")
def workdir(tiny_run, tmp_path_factory):
    """A copy of the tiny configuration's run: the probes damage its files and rebuild tables."""
    workdir = copy_run(tiny_run, tmp_path_factory.mktemp("run_outputs") / "workdir")
    for target in (GEN_GAP, DEBIAS):
        assert (workdir / target).exists()
    return workdir


def rebuild(workdir, target):
    return snakemake(workdir, target, "--cores", "1", "--configfile", str(TINY), timeout=300)


def damaged(workdir, name, damage):
    """Damage one file of RUN, rebuild the table reading it, restore the file; the output."""
    path = workdir / RUN / name
    original = path.read_bytes()
    path.write_bytes(damage(original))
    try:
        result = rebuild(workdir, GEN_GAP if name == "history.csv" else DEBIAS)
    finally:
        path.write_bytes(original)
    assert result.returncode != 0
    return result.stdout + result.stderr


def test_history_cut_mid_row_fails_naming_the_file(workdir):
    output = damaged(workdir, "history.csv", lambda data: data[:-30])
    assert f"{RUN}/history.csv ends in the middle of a row" in output, output[-3000:]
    assert not (workdir / GEN_GAP).exists()  # no table built from half a run


def test_truncated_predictions_fail_naming_the_file(workdir):
    output = damaged(workdir, "predictions.npz", lambda data: data[: len(data) // 2])
    assert f"{RUN}/predictions.npz cannot be read" in output, output[-3000:]
    assert "truncated or corrupt" in output and not (workdir / DEBIAS).exists()


@pytest.fixture
def run_copy(workdir, tmp_path):
    """A copy of RUN; ``run_copy(members=4)`` puts it where a run of 4 learners would be."""

    def make(members=3):
        target = tmp_path / RUN.replace("/M3/", f"/M{members}/")
        shutil.copytree(workdir / RUN, target)
        return target

    return make


def test_intact_outputs_read_back(workdir):
    history = read_history(workdir / RUN)
    assert len(history) == read_outcome(workdir / RUN)["epochs_run"] == 8
    outputs, y = load_predictions(workdir / RUN, "last")
    assert outputs.shape == (3, len(y), 1)


def test_history_short_of_provenance_epochs(run_copy):
    run = run_copy()
    lines = (run / "history.csv").read_text().splitlines(keepends=True)
    (run / "history.csv").write_text("".join(lines[:-5]))
    with pytest.raises(RunOutputError) as error:
        read_history(run)
    assert str(error.value) == (
        f"{run}/history.csv has 3 rows but provenance.json says 8 epochs ran: the run is "
        "incomplete; delete the run directory and rerun"
    )


def test_history_without_a_column_the_analyses_read(run_copy):
    run = run_copy()
    history = read_history(run).drop(columns=["test_DIV", "val_L_member2"])
    history.to_csv(run / "history.csv", index=False)
    with pytest.raises(
        RunOutputError, match="history.csv lacks the columns val_L_member2, test_DIV"
    ):
        read_history(run)


def test_provenance_without_outcome(run_copy):
    run = run_copy()
    (run / "provenance.json").write_text(json.dumps({"run": {}}))
    with pytest.raises(RunOutputError, match="provenance.json has no readable outcome"):
        read_outcome(run)
    (run / "provenance.json").write_text('{"outcome": {"status": "comp')
    with pytest.raises(RunOutputError, match="provenance.json has no readable outcome"):
        read_history(run)


def test_predictions_of_another_ensemble_size(run_copy):
    run = run_copy(members=4)
    with pytest.raises(
        RunOutputError, match=r"last_test has shape \(3, \d+, 1\).*4 learners needs \(4, "
    ):
        load_predictions(run, "last")


def test_predictions_with_a_missing_or_misshapen_array(run_copy):
    run = run_copy()
    with np.load(run / "predictions.npz") as archive:
        arrays = {key: archive[key] for key in archive.files}
    bad = copy.deepcopy(arrays)
    del bad["best_val_test"]
    np.savez(run / "predictions.npz", **bad)
    with pytest.raises(RunOutputError, match="has no array best_val_test"):
        load_predictions(run, "best_val")
    bad = {**arrays, "y_test": arrays["y_test"][:-1]}
    np.savez(run / "predictions.npz", **bad)
    with pytest.raises(RunOutputError, match="y_test"):
        load_predictions(run, "last")
