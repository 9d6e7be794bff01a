"""Snakemake adapter: the report's landing page (its description with this run at a glance)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # this checkout's package

import pandas as pd

from collusion import landing

sys.stderr = open(snakemake.log[0], "w")
claims = pd.read_csv(snakemake.input.claims, keep_default_na=False, na_values=[""])
pooled = pd.read_csv(snakemake.input.pooled, keep_default_na=False, na_values=[""])
block = landing.at_a_glance(
    snakemake.config,
    snakemake.params.configfiles,
    snakemake.params.digest,
    landing.read_provenance(snakemake.input.provenance),
    claims,
    pooled,
)
with open(snakemake.input.template) as handle:
    page = landing.landing_page(handle.read(), block)
with open(snakemake.output[0], "w") as handle:
    handle.write(page)
