"""Snakemake adapter: the claims tables as the report's HTML page, with their scope."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # this checkout's package

import pandas as pd

from collusion import claims_report

sys.stderr = open(snakemake.log[0], "w")


def read(path):
    return pd.read_csv(path, keep_default_na=False, na_values=[""])  # the verdict "n/a" stays text


runs = pd.concat([pd.read_csv(path) for path in snakemake.input.runs], ignore_index=True)
runs = runs[~runs["experiment"].isin(snakemake.params.mitigations)]
scope = claims_report.scope(snakemake.config, runs, snakemake.params.primary_selection)
with open(snakemake.input.regime_map, "rb") as handle:
    regime_map = handle.read()
page = claims_report.html_report(
    read(snakemake.input.csv),
    read(snakemake.input.pooled),
    scope,
    snakemake.params.primary_selection,
    regime_map,
)
with open(snakemake.output[0], "w") as handle:
    handle.write(page)
