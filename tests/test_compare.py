"""collusion.compare: two results folders are the same numbers when every run's history.csv (its
time column aside) and predictions.npz are equal bit for bit, and any other difference is named."""

import numpy as np

from collusion.compare import compare, main

RUN = "runs/e/d/mlp/score/M2/beta0.5/seed0"


def results(root, seconds="1.5", loss="0.25", last=None, extra_run=False):
    for run in [RUN] + (["runs/e/d/mlp/score/M2/beta1/seed0"] if extra_run else []):
        directory = root / run
        directory.mkdir(parents=True)
        (directory / "history.csv").write_text(
            f"epoch,lr,train_L_ens,seconds\n1,0.01,{loss},{seconds}\n2,0.01,0.2,{seconds}\n"
        )
        outputs = np.linspace(0, 1, 12, dtype=np.float32).reshape(2, 3, 2)
        np.savez(
            directory / "predictions.npz",
            y_test=np.array([0, 1, 1]),
            best_val_test=np.full_like(outputs, np.nan),  # a run that never had a best epoch
            last_test=outputs if last is None else last,
        )
    return root


def test_equal_but_for_the_time_column_is_identical(tmp_path, capsys):
    before = results(tmp_path / "before")
    after = results(tmp_path / "after", seconds="9.75")
    assert compare(before, after) == (1, [])
    assert main([str(before), str(after)]) == 0
    assert "1 runs in both" in capsys.readouterr().out


def test_one_ulp_a_history_value_or_a_run_is_a_difference(tmp_path, capsys):
    before = results(tmp_path / "before")
    last = np.linspace(0, 1, 12, dtype=np.float32).reshape(2, 3, 2)
    last[1, 2, 0] = np.nextafter(last[1, 2, 0], np.float32(2))
    after = results(tmp_path / "after", loss="0.2500001", last=last, extra_run=True)
    compared, found = compare(before, after)
    assert compared == 1 and len(found) == 3, found
    assert any("only after" in line for line in found)
    assert any(
        "train_L_ens: 1 rows differ, first epoch 1: 0.25 before, 0.2500001" in f for f in found
    )
    assert any("last_test: 1 elements differ, first (1, 2, 0)" in line for line in found)
    assert main([str(before), str(after)]) == 1
    assert "3 difference(s)" in capsys.readouterr().out
