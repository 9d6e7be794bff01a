import sys
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.20")

# the package in this checkout's src/ (also what the scripts import), installed or not
sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from collusion import config_errors, pipeline
from jsonschema import ValidationError


def check_config():
    """Duplicate YAML keys, the schema (defaults filled), then the cross-checks; a few lines each."""
    for path in workflow.configfiles:
        config_errors.check_yaml_file(path)
    try:
        validate(config, "../schemas/config.schema.yaml")
    except WorkflowError as error:
        schema_error = error.__context__  # the jsonschema error Snakemake wraps
        if not isinstance(schema_error, ValidationError):
            raise
        message = config_errors.schema_message(schema_error)
        raise pipeline.ConfigError(message) from None
    pipeline.normalise_grid(config)
    pipeline.check_config(config)


try:
    check_config()
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
    "dropout": ("sweep", ["predictions.npz"]),
    "gengap": ("sweep", ["history.csv"]),
    "dynamics": ("dynamics", ["history.csv"]),
    "calibration": ("sweep", ["predictions.npz"]),
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


# Paper tables: the per-experiment tables each summarises.
PAPER_TABLES = {
    "beta_sweep": ["runs"],
    "independent_vs_joint": ["runs"],
    "debias": ["debias"],
    "learner_dropout": ["dropout"],
    "gen_gap": ["runs"],
}
# Figures: the tables each draws.
FIGURES = {
    "beta_sweep": {"beta_sweep": "results/paper/tables/beta_sweep.csv"},
    "diversity": {"beta_sweep": "results/paper/tables/beta_sweep.csv"},
    "gen_gap": {"gengap": experiment_tables("gengap")},
    "debias": {"debias": "results/paper/tables/debias.csv"},
    "learner_dropout": {"learner_dropout": "results/paper/tables/learner_dropout.csv"},
    "dynamics": {"dynamics": experiment_tables("dynamics")},
    "divergence": {"divergence": "results/tables/divergence.csv"},
    "ensemble_size": {"beta_sweep": "results/paper/tables/beta_sweep.csv"},
}


def paper_targets():
    return (
        expand("results/paper/figures/{name}.{ext}", name=FIGURES, ext=["pdf", "png"])
        + expand(
            "results/paper/tables/{name}.{ext}",
            name=[*PAPER_TABLES, "divergence"],
            ext=["csv", "md", "tex"],
        )
        + ["results/paper/claims.md", "results/paper/claims.csv"]
    )
