# The report (`snakemake --report results/report.html --report-stylesheet workflow/report/report.css`):
# its landing page and the "what was run" page. It opens on the description workflow/report/workflow.rst
# or, once rule report_landing has written LANDING (the same text with this run at a glance: the
# claims' headline, commit, configuration digest, device, seeds, package versions), on that.

from collusion import landing

LANDING = f"{RESULTS}/paper/report.rst"


report: os.path.abspath(LANDING) if os.path.exists(LANDING) else "../report/workflow.rst"


# every run (summary and report_landing read them all), its provenance.json, and the configuration
# files as the report names them
ALL_RUNS = pipeline.all_runs(config)
ALL_RUNS_PARAM = runs_param(ALL_RUNS)
PROVENANCE = pipeline.run_outputs(ALL_RUNS, ["provenance.json"])
CONFIGFILES = [landing.shown_path(path) for path in workflow.configfiles]


rule summary:
    """What was run: the configuration's grid, run counts, and the code versions the runs record."""
    input:
        provenance=PROVENANCE,
    output:
        report(
            f"{RESULTS}/paper/summary.html",
            caption="../report/summary.rst",
            category=SECTIONS["about"],
            subcategory="What was run",
            labels={"page": "summary"},
        ),
    log:
        f"{LOGS}/paper/summary.log",
    conda:
        ANALYSIS_ENV
    params:
        configfiles=CONFIGFILES,
        runs=ALL_RUNS_PARAM,
        code=code_param("summary.py"),
    script:
        "../scripts/summary.py"


rule report_landing:
    """The report's landing page: its description with this run at a glance."""
    input:
        template=source_file("workflow", "report", "workflow.rst"),
        claims=f"{RESULTS}/paper/claims.csv",
        pooled=f"{RESULTS}/paper/claims_pooled.csv",
        provenance=PROVENANCE,
    output:
        LANDING,
    log:
        f"{LOGS}/paper/report_landing.log",
    conda:
        ANALYSIS_ENV
    params:
        configfiles=CONFIGFILES,
        digest=landing.config_digest(config),
        runs=ALL_RUNS_PARAM,
        code=code_param("report_landing.py"),
    script:
        "../scripts/report_landing.py"
