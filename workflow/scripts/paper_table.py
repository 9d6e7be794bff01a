"""Snakemake adapter: one paper-level table (.csv, .md, .tex) from per-experiment tables."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # this checkout's package


import pandas as pd

from collusion import tables

sys.stderr = open(snakemake.log[0], "w")
paths = snakemake.input.tables
paths = [paths] if isinstance(paths, str) else paths
frame = pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)
summaries = {
    "beta_sweep": tables.beta_sweep,
    "independent_vs_joint": tables.independent_vs_joint,
    "debias": tables.debias_summary,
    "learner_dropout": tables.dropout_summary,
    "gen_gap": tables.gengap_summary,
    "divergence": tables.divergence_summary,
}
stem = snakemake.output[0].removesuffix(".csv")
tables.write_table(summaries[snakemake.params.name](frame), stem)
