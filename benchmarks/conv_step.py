"""One training step and one evaluation pass of config/config.yaml's MNIST-1D CNN pack (5 β × 5
members; batch 100, evaluation batch 250), as the Trainer runs it (a program of 5 members per β) and
as one program of 25, this checkout's ``StackedConv1d`` against an earlier
commit's, side by side in one process at one thread. Writes benchmarks/conv_step.csv.

    PYTHONPATH=src .venv/bin/python benchmarks/conv_step.py --base <commit> [--repeat 5]

The two take turns; each keeps its fastest CPU time (process_time: the machine is shared) of
``--repeat`` rounds of ``--steps`` steps (forward, the β objective, backward) and passes.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from speedup import import_base, rev  # noqa: E402

from collusion import ensemble, objective  # noqa: E402
from collusion.io import write_csv  # noqa: E402

BETAS, MEMBERS, BATCH, EVAL_BATCH = 5, 5, 100, 250


def timed(module, steps: int, programs: int) -> tuple[float, float]:
    """CPU seconds of ``steps`` training steps and of ``steps`` evaluation passes; ``programs``:
    BETAS (one program of M members per β, as the Trainer runs a CNN pack) or 1 (B × M members)."""
    torch.manual_seed(0)
    copies = BETAS // programs
    models = [
        module.Ensemble("cnn1d", (1, 40), 10, MEMBERS, 0, copies=copies) for _ in range(programs)
    ]
    x, y = torch.randn(BATCH, 1, 40), torch.randint(0, 10, (BATCH,))
    x_eval = torch.randn(EVAL_BATCH, 1, 40)
    start = time.process_time()
    for _ in range(steps):
        for model in models:
            model.zero_grad(set_to_none=True)
        out = torch.cat([model(x) for model in models]).view(BETAS, MEMBERS, BATCH, 10)
        objective.beta_objective(out, y, "score", 0.5).backward()
    step = (time.process_time() - start) / steps
    start = time.process_time()
    with torch.no_grad():
        for _ in range(steps):
            for model in models:
                model(x_eval)
    return step, (time.process_time() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the earlier commit (any git revision)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "conv_step.csv"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as scratch:
        import_base(args.base, Path(scratch))
        base = importlib.import_module("collusion_base.ensemble")
        rows = [measure(base, args, programs) for programs in (BETAS, 1)]
    for row in rows:
        print(row)
    write_csv(args.out, rows)


def measure(base, args, programs: int) -> dict:
    load_before = os.getloadavg()[0]
    times = {"base": [], "new": []}
    for _ in range(args.repeat):
        times["base"].append(timed(base, args.steps, programs))
        times["new"].append(timed(ensemble, args.steps, programs))
    best = {k: (min(s for s, _ in v), min(e for _, e in v)) for k, v in times.items()}
    dirty = subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", "HEAD", "--", "src"])
    return {
        "base": rev(args.base),
        "new": rev("HEAD") + ("+dirty" if dirty.returncode else ""),
        "programs": programs,
        "members_per_program": BETAS * MEMBERS // programs,
        "batch": BATCH,
        "eval_batch": EVAL_BATCH,
        "steps": args.steps,
        "repeat": args.repeat,
        "base_step_cpu_ms": round(1e3 * best["base"][0], 2),
        "new_step_cpu_ms": round(1e3 * best["new"][0], 2),
        "step_ratio_new_over_base": round(best["new"][0] / best["base"][0], 3),
        "base_eval_cpu_ms": round(1e3 * best["base"][1], 2),
        "new_eval_cpu_ms": round(1e3 * best["new"][1], 2),
        "eval_ratio_new_over_base": round(best["new"][1] / best["base"][1], 3),
        "load_1min_before": round(load_before, 2),
        "load_1min_after": round(os.getloadavg()[0], 2),
    }


if __name__ == "__main__":
    main()
