"""What a training job tells its user while it runs (collusion.progress): the console's progress
line (its content, at most one per interval by an injected clock, the ETA of the whole job across
its seeds' packs) and the log's one line per period of each pack, its seed(s) marked."""

import io
import re

import pandas as pd
import pytest

from collusion.job import train
from collusion.progress import PROGRESS_VARIABLE, Progress, progress_seconds
from collusion.spec import TrainingJob
from test_pack import seed_packs, table

SEEDS, BETAS, EPOCHS = (3, 4), (0.0, 1.0), 3


class Clock:
    """A clock that moves only when told."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def row(value: float) -> dict:
    return {"train_objective": value, "val_L_ens": value, "test_L_ens": value, "test_DIV": value}


def test_a_progress_line_names_the_job_its_seeds_and_betas_and_comes_at_most_every_interval(
    monkeypatch,
):
    monkeypatch.setenv(PROGRESS_VARIABLE, "30")
    clock, console = Clock(), io.StringIO()
    progress = Progress("mnist1d mlp score M5", 1, 12, console, clock=clock)
    runs = [(seed, beta) for seed in (0, 1) for beta in (0, 0.5, 1)]
    progress.start_pack(runs)
    for epoch in range(1, 13):  # one period every 10 s
        clock.now += 10
        progress.end_of_period(epoch, {r: row(1.0) for r in range(len(runs))}, 10.0)
    lines = console.getvalue().splitlines()
    # the first after the first period, then one whenever 30 s have passed since the last
    assert [int(re.search(r"epoch (\d+)/12", line)[1]) for line in lines] == [1, 4, 7, 10]
    assert lines[0] == (
        "[mnist1d mlp score M5] seeds 0,1, β 0 0.5 1 (6 runs): epoch 1/12, job 8% done, "
        "elapsed 10s, eta 1m50s"
    )
    assert lines[1].endswith("epoch 4/12, job 33% done, elapsed 40s, eta 1m20s")


def test_no_interval_writes_a_line_every_period_and_no_stream_writes_none(monkeypatch):
    monkeypatch.setenv(PROGRESS_VARIABLE, "0")
    clock, console = Clock(), io.StringIO()
    progress = Progress("", 2, 2, console, clock=clock)
    progress.start_pack([(7, 0.5)])
    for epoch in (1, 2):
        clock.now += 1
        progress.end_of_period(epoch, {0: row(1.0)}, 1.0)
    assert console.getvalue().splitlines() == [
        "seed 7 (pack 1 of 2), β 0.5: epoch 1/2, job 25% done, elapsed 1s, eta 3s",
        "seed 7 (pack 1 of 2), β 0.5: epoch 2/2, job 50% done, elapsed 2s, eta 2s",
    ]
    silent = Progress(epochs=2, clock=clock)  # a trainer on its own: log lines only
    silent.start_pack([(7, 0.5)])
    assert silent.end_of_period(1, {0: row(1.0)}, 1.0).startswith("epoch 1/2 seed 7, β 0.5: ")


def test_the_eta_is_the_jobs_a_pack_that_stops_early_or_resumes_counts_as_done():
    clock = Clock()
    progress = Progress("", packs=3, epochs=10, clock=clock)
    progress.start_pack([(0, 0.0)], epoch=4)  # resumed after 4 periods: done, not trained
    for epoch in (5, 6):
        clock.now += 2
        progress.end_of_period(epoch, {0: row(1.0)}, 2.0)
    assert (progress.done, progress.trained) == (6, 2)
    assert progress.eta() == pytest.approx(2 * (30 - 6))  # 2 s a period, all packs' periods left
    progress.end_pack()  # its runs stopped at 6: its last 4 periods will never train
    progress.start_pack([(1, 0.0)])
    assert progress.done == 10 and progress.eta() == pytest.approx(2 * 20)


def test_the_interval_comes_from_the_environment_and_a_bad_one_is_named():
    assert progress_seconds({}) == 30
    assert progress_seconds({PROGRESS_VARIABLE: "5"}) == 5
    with pytest.raises(ValueError, match=f"{PROGRESS_VARIABLE}='soon'.*seconds >= 0"):
        progress_seconds({PROGRESS_VARIABLE: "soon"})


class Log(io.StringIO):
    """A job's log that moves the clock 10 s at each period's line: every period takes 10 s."""

    def __init__(self, clock):
        super().__init__()
        self.clock = clock

    def write(self, text):
        if text.startswith("epoch "):
            self.clock.now += 10
        return super().write(text)


def two_seed_job(tmp_path, one_program, monkeypatch):
    """A two-seed job of β {0, 1} trained with a console and a 10-s-per-period clock; its log
    lines, its console lines and its runs' histories (seed by seed, β by β)."""
    table(tmp_path)
    parts, outputs = seed_packs(tmp_path / "runs", SEEDS, BETAS, epochs=EPOCHS)
    job = TrainingJob(
        parts, str(tmp_path / "r.npz"), str(tmp_path / "job"), one_program=one_program, name="j"
    )
    monkeypatch.setenv(PROGRESS_VARIABLE, "0")  # a progress line every period
    clock, console = Clock(), io.StringIO()
    log = Log(clock)
    train(job, log, console, clock)
    histories = [pd.read_csv(out.history) for out in outputs]
    return log.getvalue().splitlines(), console.getvalue().splitlines(), histories


def test_a_seed_after_seed_job_has_one_eta_and_one_log_line_per_period_of_each_seed(
    tmp_path, monkeypatch
):
    log, console, histories = two_seed_job(tmp_path, False, monkeypatch)
    epochs = [line for line in log if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epochs] == [
        f"epoch {e}/{EPOCHS} seed {seed}, β [0 1]" for seed in SEEDS for e in range(1, EPOCHS + 1)
    ]
    # each period takes 10 s: the ETA is 10 s times the periods left in the whole job (both
    # seeds'), from the first period on; it does not restart with the second seed
    total = len(SEEDS) * EPOCHS
    periods = range(1, total + 1)
    assert [re.search(r"eta (\d+)s$", line)[1] for line in console] == [
        str(round(10 * (k - 1) / k * (total - k))) for k in periods
    ]
    assert [re.search(r"job (\d+)% done", line)[1] for line in console] == [
        str(round(100 * k / total)) for k in periods
    ]
    assert "seed 4 (pack 2 of 2), β 0 1 (2 runs): epoch 1/3" in console[EPOCHS]
    # the log's values are the runs' own (one seed: each β's)
    last = epochs[EPOCHS - 1]
    expected = " ".join(f"{h['val_L_ens'].iloc[-1]:.4g}" for h in histories[: len(BETAS)])
    assert f"val L_ens [{expected}]" in last


def test_a_one_program_job_logs_one_line_per_period_marking_its_seeds(tmp_path, monkeypatch):
    log, console, histories = two_seed_job(tmp_path, True, monkeypatch)
    epochs = [line for line in log if line.startswith("epoch ")]
    assert len(epochs) == EPOCHS  # not one per run
    assert all(
        line.startswith("epoch ") and " seeds 3,4, β [0 1] (mean over the seeds): " in line
        for line in epochs
    )
    by_beta = [
        sum(histories[s * len(BETAS) + b]["test_DIV"].iloc[-1] for s in range(len(SEEDS)))
        / len(SEEDS)
        for b in range(len(BETAS))
    ]
    assert f"test DIV [{' '.join(f'{v:.4g}' for v in by_beta)}]" in epochs[-1]
    assert console[0].startswith("[j] seeds 3,4, β 0 1 (4 runs): epoch 1/3, job 33% done")


def test_the_progress_module_is_no_part_of_a_runs_training_code():
    """It reads the clock and counters only: editing a line's wording retrains nothing."""
    from collusion import fingerprint

    names = {p.relative_to(fingerprint.PACKAGE).as_posix() for p in fingerprint.training_files()}
    assert "train.py" in names and "progress.py" not in names
