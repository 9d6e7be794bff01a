"""Snakemake adapter: the claims tables, computed from the run tables."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # this checkout's package


import pandas as pd

from collusion import claims, claims_report, mitigation_claims

sys.stderr = open(snakemake.log[0], "w")


def read(paths):
    return pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)


def unmitigated(frame):
    return frame[~frame["experiment"].isin(mitigations)]


alpha, mitigations = snakemake.params.significance, snakemake.params.mitigations
runs = read(snakemake.input.runs)
# the paper's claims are about its objective: the mitigation experiments answer their own question
tables = claims.build(
    unmitigated(runs),
    unmitigated(read(snakemake.input.debias)),
    unmitigated(read(snakemake.input.learner_dropout)),
    unmitigated(read(snakemake.input.gen_gap)),
    alpha,
    snakemake.params.primary_selection,
)
scope = claims_report.scope(snakemake.config, unmitigated(runs), tables.primary_selection)
claims_report.write_claims(tables, dict(snakemake.output.items()), alpha, scope)
mitigation_rows = mitigation_claims.mitigation_rows(runs, mitigations, alpha)
mitigation_rows.to_csv(snakemake.output.mitigations, index=False)
mitigation_claims.write_section(mitigation_rows, snakemake.output.md, alpha)
