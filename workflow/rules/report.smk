# The report (`snakemake --report results/report.html`): its landing page and the "what was run" page.


report: "../report/workflow.rst"


rule summary:
    """What was run: the configuration's grid, run counts, and the code versions the runs record."""
    input:
        provenance=[
            path
            for experiment in EXPERIMENTS
            for path in pipeline.run_outputs(
                pipeline.experiment_runs(config, experiment), ["provenance.json"]
            )
        ],
    output:
        report(
            "results/paper/summary.html",
            caption="../report/summary.rst",
            category=SECTIONS["about"],
            subcategory="What was run",
            labels={"page": "summary"},
        ),
    log:
        "logs/paper/summary.log",
    conda:
        ANALYSIS_ENV
    params:
        configfiles=[str(path) for path in workflow.configfiles],
        runs=runs_param(pipeline.all_runs(config)),
        code=code_param("summary.py"),
    script:
        "../scripts/summary.py"
