# The report (`snakemake --report results/report.html`): its landing page and the "what was run" page.
# It opens on the description workflow/report/workflow.rst; once rule report_landing has written
# LANDING (the same text with this run at a glance: the claims' headline, commit, configuration
# digest, device, seeds, package versions), on that.

from collusion import landing

LANDING = "results/paper/report.rst"


report: os.path.abspath(LANDING) if os.path.exists(LANDING) else "../report/workflow.rst"


def shown_path(path):
    """A configuration file as the report names it: relative to the working directory when it is
    inside it (so that a moved checkout keeps its params), else as given."""
    path = Path(path).absolute()
    return (
        str(path.relative_to(Path.cwd()))
        if path.is_relative_to(Path.cwd())
        else str(path)
    )


def provenance_files():
    return [
        path
        for experiment in EXPERIMENTS
        for path in pipeline.run_outputs(
            pipeline.experiment_runs(config, experiment), ["provenance.json"]
        )
    ]


rule summary:
    """What was run: the configuration's grid, run counts, and the code versions the runs record."""
    input:
        provenance=provenance_files(),
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
        configfiles=[shown_path(path) for path in workflow.configfiles],
    script:
        "../scripts/summary.py"


rule report_landing:
    """The report's landing page: its description with this run at a glance."""
    input:
        template=source_file("workflow", "report", "workflow.rst"),
        claims="results/paper/claims.csv",
        provenance=provenance_files(),
    output:
        LANDING,
    log:
        "logs/paper/report_landing.log",
    conda:
        ANALYSIS_ENV
    params:
        configfiles=[shown_path(path) for path in workflow.configfiles],
        digest=landing.config_digest(config),
    script:
        "../scripts/report_landing.py"
