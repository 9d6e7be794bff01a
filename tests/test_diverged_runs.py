"""Diverged runs at β ≤ 1, through the real Snakefile: left out of the sweep statistics and the
claims, and counted there (never compared as if they had finished)."""

import json

import pandas as pd
import pytest
import yaml

from pipeline_helpers import copy_workflow, snakemake

pytestmark = pytest.mark.slow

# diabetes as in the tiny configuration, with a divergence limit on the training DIV that the
# narrow members pass within 8 epochs at β = 1 (DIV grows with β) but not at β = 0
CONFIG = {
    "experiments": {
        "diverging": {
            "dataset": "diabetes",
            "models": ["mlp_narrow"],
            "aggregations": ["regression"],
            "ensemble_sizes": [3],
            "betas": [0, 0.5, 1],
            "seeds": [0, 1],
            "recipe": "tight",
        }
    },
    "models": {"mlp_narrow": {"arch": "mlp", "hidden": [8, 8]}},
    "recipes": {
        "tight": {
            "optimizer": "adam",
            "lr": 0.003,
            "batch_size": 64,
            "epochs": 8,
            "divergence_limit": 0.06,
        }
    },
    "analysis": {"learner_dropout": {"fractions": [0.34], "subsets": 5}},
}


def test_diverged_runs_are_left_out_and_counted(tmp_path):
    workdir = copy_workflow(tmp_path)
    config = workdir / "diverging.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    targets = ["results/paper/claims.csv", "results/paper/tables/beta_sweep.csv"]
    result = snakemake(workdir, *targets, "--cores", "2", "--configfile", str(config))
    assert result.returncode == 0, result.stderr[-5000:]

    status = {}
    for provenance in (workdir / "results" / "runs").rglob("provenance.json"):
        record = json.loads(provenance.read_text())
        status[(record["config"]["run"]["beta"], provenance.parent.name)] = record["outcome"][
            "status"
        ]
    diverged = {key for key, value in status.items() if value == "diverged"}
    at = {beta: {seed for (b, seed) in diverged if b == beta} for beta in (0.0, 0.5, 1.0)}
    assert at[1.0] and not at[0.0], status  # the premise: β = 1 runs diverged, β = 0 runs did not

    runs = pd.read_csv(workdir / "results" / "tables" / "diverging" / "runs.csv")
    assert set(runs.loc[runs["status"] == "diverged", "beta"]) == {b for b, s in at.items() if s}

    sweep = pd.read_csv(workdir / "results" / "paper" / "tables" / "beta_sweep.csv")
    for row in sweep.itertuples():
        assert row.diverged == len(at[row.beta]) and row.seeds == 2 - len(at[row.beta])

    claims = pd.read_csv(workdir / "results" / "paper" / "claims.csv")
    compared = claims[(claims["claim"] == 1) & (claims["endpoint"] == "test_error")]
    assert len(compared) == 2  # best_val and last
    for row in compared.itertuples():
        assert row.n_diverged == len(at[1.0]) and row.n_seeds == 2 - len(at[1.0])
        if row.n_seeds == 0:
            assert row.verdict == "insufficient data" and pd.isna(row.diff_mean)
