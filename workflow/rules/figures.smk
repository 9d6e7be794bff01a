# Paper figures (results/paper/figures/<name>.{pdf,png}), one named rule each (figure_<name>);
# the registry is collusion.figures.FIGURES. The report shows the PNG; the PDF is the vector copy.

for name, entry in FIGURES.items():

    rule:
        name:
            f"figure_{name}"
        input:
            unpack(lambda wildcards, name=name: figure_inputs(name)),
        output:
            pdf=f"{RESULTS}/paper/figures/{name}.pdf",
            png=report(
                f"{RESULTS}/paper/figures/{name}.png",
                caption=f"../report/figure_{name}.rst",
                category=SECTIONS[entry.section],
                subcategory="Figures",
                labels={"figure": name},
            ),
        log:
            f"{LOGS}/paper/figure_{name}.log",
        conda:
            ANALYSIS_ENV
        params:
            name=name,
            options=entry.options(config),
            runs=sources_runs_param(entry.inputs),
            code=code_param("figure.py", f"figures.{name}"),
        script:
            "../scripts/figure.py"
