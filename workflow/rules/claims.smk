# The claims tables (results/paper/claims.{md,csv}, claims_pooled.csv) and their HTML rendering
# for the report. The primary selection is best_val (the authors' rule).
PRIMARY_SELECTION = "best_val"


rule claims:
    """Every claim of the paper with its measured effect, paired test and computed verdict (on the
    unmitigated experiments), and whether each mitigation recovers β = 1's loss."""
    input:
        runs=experiment_tables("runs"),
        debias=experiment_tables("debias"),
        learner_dropout=experiment_tables("learner_dropout"),
        gen_gap=experiment_tables("gen_gap"),
    output:
        md=f"{RESULTS}/paper/claims.md",
        csv=f"{RESULTS}/paper/claims.csv",
        pooled=f"{RESULTS}/paper/claims_pooled.csv",
        mitigations=f"{RESULTS}/paper/mitigation_claims.csv",
    log:
        f"{LOGS}/paper/claims.log",
    conda:
        ANALYSIS_ENV
    params:
        significance=config["analysis"]["significance"],
        mitigations=pipeline.mitigation_experiments(config),
        primary_selection=PRIMARY_SELECTION,
        runs=sources_runs_param(["runs"]),
        code=code_param("claims.py"),
    script:
        "../scripts/claims.py"


rule claims_html:
    """The claims page: each claim's verdict with where it holds, the regime map beside it; each
    setting, the scope and every row behind folds."""
    input:
        csv=f"{RESULTS}/paper/claims.csv",
        pooled=f"{RESULTS}/paper/claims_pooled.csv",
        runs=experiment_tables("runs"),
        regime_map=f"{RESULTS}/paper/figures/regime_map.png",
    output:
        report(
            f"{RESULTS}/paper/claims.html",
            caption="../report/claims.rst",
            category=SECTIONS["about"],
            subcategory="Claims",
            labels={"table": "claims"},
        ),
    log:
        f"{LOGS}/paper/claims_html.log",
    conda:
        ANALYSIS_ENV
    params:
        mitigations=pipeline.mitigation_experiments(config),
        primary_selection=PRIMARY_SELECTION,
        runs=sources_runs_param(["claims"]),
        code=code_param("claims_html.py"),
    script:
        "../scripts/claims_html.py"
