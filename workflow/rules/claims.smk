# The claims table (results/paper/claims.{md,csv}) and its HTML rendering for the report.


rule claims:
    """Every claim of the paper with its measured effect, paired test and computed verdict (on the
    unmitigated experiments), and whether each mitigation recovers β = 1's loss."""
    input:
        runs=experiment_tables("runs"),
        debias=experiment_tables("debias"),
        learner_dropout=experiment_tables("learner_dropout"),
    output:
        md="results/paper/claims.md",
        csv="results/paper/claims.csv",
        mitigations="results/paper/mitigation_claims.csv",
    log:
        "logs/paper/claims.log",
    conda:
        ANALYSIS_ENV
    params:
        significance=config["analysis"]["significance"],
        mitigations=pipeline.mitigation_experiments(config),
        runs=sources_runs_param(["runs"]),
        code=code_param("claims.py"),
    script:
        "../scripts/claims.py"


rule claims_html:
    """The claims table as one HTML table (primary endpoints first) for the report."""
    input:
        "results/paper/claims.csv",
    output:
        report(
            "results/paper/claims.html",
            caption="../report/claims.rst",
            category=SECTIONS["about"],
            subcategory="Claims",
            labels={"table": "claims"},
        ),
    log:
        "logs/paper/claims_html.log",
    conda:
        ANALYSIS_ENV
    params:
        runs=sources_runs_param(["claims"]),
        code=code_param("claims_html.py"),
    script:
        "../scripts/claims_html.py"
