# Per-experiment tidy tables (results/tables/<experiment>/) built from the run directories.

for table in ANALYSES:

    rule:
        name:
            f"analyse_{table}"
        input:
            analysis_inputs(table),
        output:
            f"{RESULTS}/tables/{{experiment}}/{table}.csv",
        log:
            f"{LOGS}/analyse/{{experiment}}/{table}.log",
        conda:
            ANALYSIS_ENV
        params:
            table=table,
            analysis=config["analysis"],
            runs=lambda wc, table=table: runs_param(analysis_runs(table)(wc)),
            code=code_param("analyse.py"),
        script:
            "../scripts/analyse.py"


rule analyse_divergence:
    """Histories of the β > 1 runs (all experiments): the unbounded objective."""
    input:
        pipeline.run_outputs(
            pipeline.divergent_runs(config), ["history.csv", "provenance.json"]
        ),
    output:
        f"{RESULTS}/tables/divergence.csv",
    log:
        f"{LOGS}/analyse/divergence.log",
    conda:
        ANALYSIS_ENV
    params:
        table="divergence",
        analysis=config["analysis"],
        runs=runs_param(pipeline.divergent_runs(config)),
        code=code_param("analyse.py"),
    script:
        "../scripts/analyse.py"
