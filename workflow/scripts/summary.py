"""Snakemake adapter: the report's "about this run" page from the configuration and the runs' provenance."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # this checkout's package

import html

from collusion import tables
from collusion.landing import read_provenance

sys.stderr = open(snakemake.log[0], "w")
records = read_provenance(snakemake.input.provenance)
experiments, code = tables.run_summary(snakemake.config, records)
configfiles = ", ".join(snakemake.params.configfiles)
body = (
    f"<p>Configuration file(s): {html.escape(configfiles)}. {len(records)} runs.</p>"
    f"<h4>Experiments: the grid and its runs</h4>{tables.html_fragment(experiments)}"
    f"<h4>Code that produced the runs (each run's provenance.json)</h4>{tables.html_fragment(code)}"
)
with open(snakemake.output[0], "w") as handle:
    handle.write(tables.html_page("What was run", body))
