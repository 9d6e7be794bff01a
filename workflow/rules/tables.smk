# Paper-level tables (results/paper/tables/<name>.{csv,md,tex,html}), one named rule each
# (table_<name>); the registry is collusion.figures.PAPER_TABLES. The report shows the HTML.

for name, entry in PAPER_TABLES.items():

    rule:
        name:
            f"table_{name}"
        input:
            **{input_name(s): source_paths(s) for s in entry.sources},
        output:
            csv=f"{RESULTS}/paper/tables/{name}.csv",
            md=f"{RESULTS}/paper/tables/{name}.md",
            tex=f"{RESULTS}/paper/tables/{name}.tex",
            html=report(
                f"{RESULTS}/paper/tables/{name}.html",
                caption=f"../report/table_{name}.rst",
                category=SECTIONS[entry.section],
                subcategory="Tables",
                labels={"table": name},
            ),
        log:
            f"{LOGS}/paper/table_{name}.log",
        conda:
            ANALYSIS_ENV
        params:
            name=name,
            options=entry.options(config),
            runs=sources_runs_param(entry.sources),
            code=code_param("paper_table.py"),
        script:
            "../scripts/paper_table.py"
