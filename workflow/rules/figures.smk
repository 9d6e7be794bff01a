# Paper-level tables, figures and the claims table; each is its own target and named rule.

for name, sources in PAPER_TABLES.items():

    rule:
        name:
            f"table_{name}"
        input:
            tables=[path for source in sources for path in experiment_tables(source)],
        output:
            report(
                multiext(f"results/paper/tables/{name}", ".csv", ".md", ".tex"),
                caption=f"../report/table_{name}.rst",
                category="Tables",
            ),
        log:
            f"logs/paper/table_{name}.log",
        conda:
            ANALYSIS_ENV
        params:
            name=name,
        script:
            "../scripts/paper_table.py"


rule table_divergence:
    input:
        tables="results/tables/divergence.csv",
    output:
        report(
            multiext("results/paper/tables/divergence", ".csv", ".md", ".tex"),
            caption="../report/table_divergence.rst",
            category="Tables",
        ),
    log:
        "logs/paper/table_divergence.log",
    conda:
        ANALYSIS_ENV
    params:
        name="divergence",
    script:
        "../scripts/paper_table.py"


for name, tables in FIGURES.items():

    rule:
        name:
            f"figure_{name}"
        input:
            unpack(lambda wc, tables=tables: tables),
            code=f"src/collusion/figures/{name}.py",
        output:
            pdf=report(
                f"results/paper/figures/{name}.pdf",
                caption=f"../report/figure_{name}.rst",
                category="Figures",
            ),
            png=f"results/paper/figures/{name}.png",
        log:
            f"logs/paper/figure_{name}.log",
        conda:
            ANALYSIS_ENV
        params:
            name=name,
        script:
            "../scripts/figure.py"


rule claims:
    """Every claim of the paper with its measured effect, paired test and computed verdict."""
    input:
        runs=experiment_tables("runs"),
        debias=experiment_tables("debias"),
        dropout=experiment_tables("dropout"),
    output:
        md=report(
            "results/paper/claims.md",
            caption="../report/claims.rst",
            category="Claims",
        ),
        csv="results/paper/claims.csv",
    log:
        "logs/paper/claims.log",
    conda:
        ANALYSIS_ENV
    params:
        significance=config["analysis"]["significance"],
    script:
        "../scripts/claims.py"
