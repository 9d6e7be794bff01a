"""benchmarks/gpu_check.sh --smoke: every step of the GPU check runs on CPU at tiny sizes, so the
script cannot rot between the rare GPU windows (no timing asserted)."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from collusion.bench import RESULT_COLUMNS, gpu_check

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_smoke_runs_every_step_and_a_timed_out_step_costs_no_other(tmp_path):
    out = tmp_path / "out"
    # step 1 gets no time at all: it must be reported as timed out, and the others still run
    env = {**os.environ, "PYTHON": sys.executable, "LIMIT_VERSIONS": "0.001"}
    result = subprocess.run(
        ["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--smoke", str(out)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    log = (out / "gpu_check.log").read_text()
    assert result.returncode == 1, log[-3000:]  # the timed-out step
    assert sorted(p.name for p in out.iterdir()) == ["gpu_check.log", "results.csv"]

    summary = log[log.index("== summary") :].splitlines()[1:]
    status = {line[:34].strip(): line[34:].split("  ")[0].strip() for line in summary}
    assert status["1 versions"].startswith("TIMED OUT")
    for name in (
        "2 benchmark",
        "3 loop = vmapped",
        "4 run, kill, resume",
        "5 Snakefile, tiny config (dry run)",
    ):
        assert status[name] == "passed", log[-3000:]
    assert status["2 benchmark, torch.compile"].startswith("skipped: --smoke")
    assert "CHECK" in log and "FAILED" not in log

    rows = pd.read_csv(out / "results.csv")
    assert list(rows.columns) == RESULT_COLUMNS
    assert list(zip(rows.implementation, rows.execution)) == [
        ("authors_loop", "loop"),
        ("ours", "loop"),
        ("ours", "vmapped"),
    ]
    assert rows.device.str.startswith("cpu").all() and (rows.steps == 1).all()
    assert (rows.images_per_s > 0).all() and (rows.extrapolated_job_s > 0).all()


def test_versions_step_names_torch_and_the_device(capsys):
    assert gpu_check.main(["versions"]) == 0
    printed = capsys.readouterr().out
    assert f"torch {__import__('torch').__version__}" in printed
    assert "snakemake" in printed and "CPU cores" in printed
