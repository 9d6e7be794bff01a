"""Snakemake adapter: the claims table, computed from the run tables."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # this checkout's package


import pandas as pd

from collusion import claims

sys.stderr = open(snakemake.log[0], "w")


def read(paths):
    return pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)


alpha = snakemake.params.significance
inputs = snakemake.input
rows = claims.claim_rows(read(inputs.runs), read(inputs.debias), read(inputs.learner_dropout), alpha)
claims.write_claims(rows, snakemake.output.csv, snakemake.output.md, alpha)
