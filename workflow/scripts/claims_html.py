"""Snakemake adapter: the claims table (claims.csv) as one HTML table for the report."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # this checkout's package

import pandas as pd

from collusion import tables

sys.stderr = open(snakemake.log[0], "w")
claims = pd.read_csv(
    snakemake.input[0], keep_default_na=False, na_values=[""]
)  # the verdict "n/a" stays text
claims = tables.claims_view(claims)
with open(snakemake.output[0], "w") as handle:
    handle.write(
        tables.html_table(claims, "Claims: one row per claim, setting, selection and endpoint")
    )
