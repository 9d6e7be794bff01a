"""The GPU check (benchmarks/gpu_check.sh) cannot rot between the rare GPU windows: its preflight
runs every step on CPU at tiny sizes in an environment of what the GPU image holds, offline (no
timing asserted); and the evaluation changes it measures keep the outputs."""

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from collusion.bench import RESULT_COLUMNS, gpu_check
from collusion.bench.evaluation import EVALUATION_COLUMNS
from collusion.data.prepared import Dataset, Split
from collusion.ensemble import Ensemble, GlobalAveragePool, build_members
from collusion.pack import predict_groups

REPO = Path(__file__).resolve().parents[1]
CHECK = REPO / "benchmarks" / "gpu_check.sh"
STEPS = [
    "0 wheels",
    "1 versions, imports",
    "2 loop = vmapped",
    "3 CUDA tests of test_ensemble.py",
    "4 run, kill, resume",
    "5 Snakefile, training jobs (dry run)",
    "6 benchmark",
    "7 evaluation",
    "8 evaluation, compiled",
    "9 benchmark, compiled, loop",
    "10 benchmark, compiled, vmapped",
]


def summary(log: str) -> dict[str, str]:
    lines = log[log.rindex("== summary") :].splitlines()[1:]
    return {
        line[:40].strip(): line[40:].split("  ")[0].strip() for line in lines if line[:1] != "t"
    }


@pytest.mark.slow
def test_preflight_runs_every_step_offline_in_the_gpu_images_environment(tmp_path):
    """make gpu-preflight: the bundle, its size, then the smoke mode with only torch, torchvision,
    the image's packages and the bundle, the network off. Every step passes and writes its rows."""
    out = tmp_path / "out"
    result = subprocess.run(
        ["bash", str(REPO / "benchmarks" / "gpu_preflight.sh"), str(out)],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable},
        timeout=1500,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "what travels:" in result.stdout and "installs offline on Python 3.12" in result.stdout
    log = (out / "gpu_check.log").read_text()
    assert summary(log) == {name: "passed" for name in STEPS}, log[-3000:]
    assert "CHECK" in log and "FAILED" not in log
    assert sorted(p.name for p in out.iterdir()) == [
        "evaluation.csv",
        "gpu_check.log",
        "results.csv",
    ]

    rows = pd.read_csv(out / "results.csv")
    assert list(rows.columns) == RESULT_COLUMNS
    assert list(zip(rows.implementation, rows.execution, rows["compile"])) == [
        ("authors_loop", "loop", False),
        ("ours", "loop", False),
        ("ours", "vmapped", False),
        ("ours", "loop", True),
        ("ours", "vmapped", True),
    ]
    assert rows.device.str.startswith("cpu").all() and (rows.steps == 1).all()
    assert (rows.torch == torch.__version__).all() and rows.cuda.isna().all()  # CPU rows
    assert (rows.images_per_s > 0).all() and (rows.extrapolated_job_s > 0).all()

    evaluation = pd.read_csv(out / "evaluation.csv")
    assert list(evaluation.columns) == EVALUATION_COLUMNS
    assert len(evaluation) == 9 and evaluation["compile"].sum() == 2
    assert (evaluation.torch == torch.__version__).all()
    assert (evaluation.images_per_s > 0).all() and (evaluation.relative_error < 0.1).all()


def test_a_selection_of_steps_runs_alone_and_a_timed_out_step_costs_no_other(tmp_path):
    """STEPS= runs only the steps named (step 0 always); a step that runs out of its box is
    reported, the next one still runs, and the summary says what to rerun."""
    out = tmp_path / "out"
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "STEPS": "1,2",
        "SMOKE_SLACK": "1",
        "LIMIT_VERSIONS": "0.5",  # torch alone takes longer to import
        "LIMIT_AGREEMENT": "300",
    }
    result = subprocess.run(
        ["bash", str(CHECK), "--smoke", str(out)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    log = (out / "gpu_check.log").read_text()
    assert result.returncode == 1, log[-3000:]
    status = summary(log)
    assert list(status) == STEPS[:3], log[-3000:]
    assert status["1 versions, imports"].startswith("TIMED OUT")
    assert status["2 loop = vmapped"] == "passed"
    assert "to rerun what failed: STEPS=1 bash benchmarks/gpu_check.sh --smoke OUT" in log


def test_the_boxes_add_up_to_the_headers_total_within_nine_minutes():
    """The header lists each step's box and their sum; the defaults are those boxes."""
    script = CHECK.read_text()
    header = re.findall(r"^#\s+(\d+)\. .*?(\d+)(?:  \(always\))?$", script, re.M)
    total = int(re.search(r"in all:\s+(\d+) s", script).group(1))
    defaults = [int(v) for v in re.findall(r"\$\{LIMIT_\w+:=(\d+)\}", script)]
    assert [int(n) for n, _ in header] == list(range(11))
    assert [int(box) for _, box in header] == defaults
    assert sum(defaults) == total <= 9 * 60
    assert total < int(re.search(r"\$\{BUDGET:=(\d+)\}", script).group(1)) <= 600


def test_versions_step_names_torch_and_every_package_the_check_imports(capsys):
    assert gpu_check.main(["versions"]) == 0
    printed = capsys.readouterr().out
    assert f"torch {torch.__version__}" in printed and "CPU cores" in printed
    for distribution, _, _ in gpu_check.needs():
        assert f"\n{distribution} " in printed


# -- the evaluation changes the check measures ---------------------------------------------------
@pytest.mark.parametrize("channels_last", [False, True])
def test_global_average_pool_is_adaptive_average_pooling_bit_for_bit(channels_last):
    x = torch.randn(6, 5, 7, 3)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    assert torch.equal(GlobalAveragePool()(x), F.adaptive_avg_pool2d(x, 1))


def test_vmapped_resnet_in_channels_last_runs_without_a_per_member_fallback():
    """Under vmap, AdaptiveAvgPool2d(1) on a channels_last input restrides in place, which vmap
    has no batching rule for ("There is a performance drop ...": one call per member)."""
    ensemble = Ensemble(
        build_members("resnet18", (3, 16, 16), 10, 2, 0, {"width": 2}), execution="vmapped"
    )
    ensemble = ensemble.to(memory_format=torch.channels_last)
    x = torch.randn(4, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ensemble.train()
        ensemble(x).sum().backward()
        ensemble.eval()
        ensemble(x)
    assert not [w for w in caught if "performance drop" in str(w.message)]


def test_one_shape_evaluation_feeds_only_full_batches_and_keeps_the_outputs():
    """one_shape pads the last batch (so a compiled ensemble compiles one graph) and drops the
    padding's outputs: the same outputs as batches taken as they come."""
    ensemble = Ensemble(
        build_members("cnn", (1, 8, 8), 10, 3, 0, {"channels": [4, 8], "hidden": 16})
    )
    split = Split(torch.randint(0, 256, (70, 1, 8, 8), dtype=torch.uint8), torch.zeros(70))
    data = Dataset(split, split, split, "classification", 10, (1, 8, 8), lambda x: x.float() / 255)
    parts = [(data, split)]
    shapes = []
    ensemble.register_forward_pre_hook(lambda module, args: shapes.append(len(args[0])))
    plain = predict_groups(ensemble, parts, 32, one_shape=False)
    assert shapes == [32, 32, 6]
    shapes.clear()
    padded = predict_groups(ensemble, parts, 32, one_shape=True)
    assert shapes == [32, 32, 32]
    assert padded.shape == plain.shape == (3, 70, 10)
    torch.testing.assert_close(padded, plain, rtol=1e-6, atol=1e-6)
