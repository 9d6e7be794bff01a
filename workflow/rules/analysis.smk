# Per-experiment tidy tables (results/tables/<experiment>/) built from the run directories.

ANALYSES = {
    # table: (runs it reads, what of each run)
    "runs": ("sweep", ["history.csv", "provenance.json"]),
    "debias": ("sweep", ["predictions.npz"]),
    "dropout": ("sweep", ["predictions.npz"]),
    "gengap": ("sweep", ["history.csv"]),
    "dynamics": ("dynamics", ["history.csv"]),
}


def analysis_inputs(table):
    select = {"sweep": pipeline.sweep_runs, "dynamics": pipeline.dynamics_runs}[ANALYSES[table][0]]

    def inputs(wildcards):
        return pipeline.run_outputs(select(config, wildcards.experiment), ANALYSES[table][1])

    return inputs


for table in ANALYSES:

    rule:
        name:
            f"analyse_{table}"
        input:
            analysis_inputs(table),
        output:
            f"results/tables/{{experiment}}/{table}.csv",
        params:
            table=table,
            analysis=config["analysis"],
        log:
            f"logs/analyse/{{experiment}}/{table}.log",
        script:
            "../scripts/analyse.py"


rule analyse_divergence:
    """Histories of the β > 1 runs (all experiments): the unbounded objective."""
    input:
        pipeline.run_outputs(pipeline.divergent_runs(config), ["history.csv", "provenance.json"]),
    output:
        "results/tables/divergence.csv",
    params:
        table="divergence",
        analysis=config["analysis"],
    log:
        "logs/analyse/divergence.log",
    script:
        "../scripts/analyse.py"
