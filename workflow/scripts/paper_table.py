"""Snakemake adapter: one paper-level table (.csv, .md, .tex, .html) from its source tables."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # this checkout's package

import pandas as pd

from collusion import tables
from collusion.figures import build_table

sys.stderr = open(snakemake.log[0], "w")


def read(paths):
    paths = [paths] if isinstance(paths, str) else paths
    return pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)


sources = {key: read(paths) for key, paths in snakemake.input.items()}
table = build_table(snakemake.params.name, sources, snakemake.config)
tables.write_table(table, snakemake.output.csv.removesuffix(".csv"))
with open(snakemake.output.html, "w") as handle:
    handle.write(tables.html_table(table, f"Table: {snakemake.params.name}"))
