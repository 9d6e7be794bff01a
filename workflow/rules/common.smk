import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.20")

# This workflow's root, two folders above this file: workflow.basedir would be the outer
# workflow's folder when this one is used as a `module` of another.
ROOT = Path(workflow.current_basedir.get_path_or_uri(secret_free=False)).parents[1]
# the package in this checkout's src/ (also what the scripts import), installed or not
sys.path.insert(0, str(ROOT / "src"))
from collusion import config_errors, pipeline


def source_file(*parts):
    """A file of this workflow's source tree (an absolute path: a rule input that works from any
    working directory, and in a module)."""
    return str(ROOT.joinpath(*parts))


# Duplicate YAML keys, the schema (defaults filled), then the cross-checks; a few lines each.
try:
    config_errors.check(
        config,
        workflow.configfiles,
        source_file("workflow", "schemas", "config.schema.yaml"),
    )
except pipeline.ConfigError as error:
    raise WorkflowError(f"config error: {error}") from None


EXPERIMENTS = list(config["experiments"])
# experiments with runs at β ∈ [0, 1]; the others only demonstrate the divergence at β > 1
SWEEP_EXPERIMENTS = [e for e in EXPERIMENTS if pipeline.sweep_runs(config, e)]
TORCH_ENV = "../../envs/torch.yaml"
ANALYSIS_ENV = "../../envs/analysis.yaml"


wildcard_constraints:
    **pipeline.LABEL_PATTERNS,
    experiment="|".join(EXPERIMENTS),


def run_of(wildcards):
    return pipeline.run_from_wildcards(wildcards)


def train_gpu(wildcards):
    return pipeline.train_resources(config, run_of(wildcards))["gpu"]


def train_runtime(wildcards, attempt):
    return pipeline.train_resources(config, run_of(wildcards))["runtime"] * attempt


def experiment_tables(name):
    return expand(
        "results/tables/{experiment}/{name}.csv",
        experiment=SWEEP_EXPERIMENTS,
        name=name,
    )


# Per-experiment tables: the runs each reads, and which files of each run.
ANALYSES = {
    "runs": ("sweep", ["history.csv", "provenance.json"]),
    "debias": ("sweep", ["predictions.npz"]),
    "learner_dropout": ("sweep", ["predictions.npz"]),
    "gen_gap": ("sweep", ["history.csv"]),
    "dynamics": ("dynamics", ["history.csv"]),
    "calibration": ("sweep", ["predictions.npz"]),
    "curves": ("sweep", ["history.csv"]),
}


def analysis_inputs(table):
    select = {"sweep": pipeline.sweep_runs, "dynamics": pipeline.dynamics_runs}[
        ANALYSES[table][0]
    ]

    def inputs(wildcards):
        return pipeline.run_outputs(
            select(config, wildcards.experiment), ANALYSES[table][1]
        )

    return inputs


# Paper tables, figures and report sections: the registries in the library.
from collusion import figures
from collusion.figures import FIGURES, PAPER_TABLES, SECTIONS, input_name


def source_paths(source):
    """The files behind a table or figure input (see collusion.figures for the kinds)."""
    return figures.source_paths(source, SWEEP_EXPERIMENTS)


def figure_inputs(name):
    return {input_name(s): source_paths(s) for s in FIGURES[name].inputs}


def paper_targets():
    return (
        expand("results/paper/figures/{name}.{ext}", name=FIGURES, ext=["pdf", "png"])
        + expand(
            "results/paper/tables/{name}.{ext}",
            name=PAPER_TABLES,
            ext=["csv", "md", "tex", "html"],
        )
        + [
            "results/paper/claims.md",
            "results/paper/claims.csv",
            "results/paper/mitigation_claims.csv",
            "results/paper/claims.html",
            "results/paper/summary.html",
        ]
        # calibration, disagreement and Wood et al.'s decomposition per run (summarised in the
        # beta_sweep and diversity tables)
        + experiment_tables("calibration")
    )
