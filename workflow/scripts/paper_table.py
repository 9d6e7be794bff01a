"""Snakemake adapter: one paper-level table (.csv, .md, .tex, .html) from its source tables."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # this checkout's package

from collusion import tables
from collusion.figures import build_table, read_inputs

sys.stderr = open(snakemake.log[0], "w")
sources = {key: read_inputs(paths) for key, paths in snakemake.input.items()}
table = build_table(snakemake.params.name, sources, snakemake.config)
tables.write_table(table, snakemake.output.csv.removesuffix(".csv"))
with open(snakemake.output.html, "w") as handle:
    handle.write(tables.html_table(table, f"Table: {snakemake.params.name}"))
