# Paper-level tables, figures and the claims table; each is its own target and named rule.

PAPER_TABLES = {
    # name: per-experiment tables it summarises
    "beta_sweep": ["runs"],
    "independent_vs_joint": ["runs"],
    "debias": ["debias"],
    "learner_dropout": ["dropout"],
    "gen_gap": ["runs"],
}
FIGURES = {
    # name: tables it draws (paper tables by name, or per-experiment tables)
    "beta_sweep": {"beta_sweep": "results/paper/tables/beta_sweep.csv"},
    "diversity": {"beta_sweep": "results/paper/tables/beta_sweep.csv"},
    "gen_gap": {"gengap": experiment_tables("gengap")},
    "debias": {"debias": "results/paper/tables/debias.csv"},
    "learner_dropout": {"learner_dropout": "results/paper/tables/learner_dropout.csv"},
    "dynamics": {"dynamics": experiment_tables("dynamics")},
    "divergence": {"divergence": "results/tables/divergence.csv"},
}


def paper_targets():
    return (
        expand("results/paper/figures/{name}.{ext}", name=FIGURES, ext=["pdf", "png"])
        + expand("results/paper/tables/{name}.{ext}", name=PAPER_TABLES, ext=["csv", "md", "tex"])
        + ["results/paper/tables/divergence.csv", "results/paper/claims.md"]
    )


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
        params:
            name=name,
        log:
            f"logs/paper/table_{name}.log",
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
    params:
        name="divergence",
    log:
        "logs/paper/table_divergence.log",
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
        params:
            name=name,
        log:
            f"logs/paper/figure_{name}.log",
        script:
            "../scripts/figure.py"


rule claims:
    """Every claim of the paper with its measured effect, paired test and computed verdict."""
    input:
        runs=experiment_tables("runs"),
        debias=experiment_tables("debias"),
        dropout=experiment_tables("dropout"),
    output:
        md=report("results/paper/claims.md", caption="../report/claims.rst", category="Claims"),
        csv="results/paper/claims.csv",
    params:
        significance=config["analysis"]["significance"],
    log:
        "logs/paper/claims.log",
    script:
        "../scripts/claims.py"
