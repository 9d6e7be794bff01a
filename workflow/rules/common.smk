from snakemake.utils import min_version, validate

from collusion import pipeline

min_version("9.20")


validate(config, "../schemas/config.schema.yaml")
try:
    pipeline.check_config(config)
except pipeline.ConfigError as error:
    raise WorkflowError(f"config error: {error}") from None


EXPERIMENTS = list(config["experiments"])
SELECTIONS = config["analysis"]["selections"]


wildcard_constraints:
    experiment="|".join(EXPERIMENTS),
    members=r"\d+",
    beta=r"\d+(\.\d+)?",
    seed=r"\d+",


def run_of(wildcards):
    return pipeline.run_from_wildcards(wildcards)


def runs_of_experiment(kind):
    """Input function: the outputs of one experiment's runs of `kind` (sweep or dynamics)."""
    select = {"sweep": pipeline.sweep_runs, "dynamics": pipeline.dynamics_runs}[kind]

    def inputs(wildcards):
        return pipeline.run_outputs(select(config, wildcards.experiment))

    return inputs


def experiment_tables(name):
    return expand("results/tables/{experiment}/{name}.csv", experiment=EXPERIMENTS, name=name)
