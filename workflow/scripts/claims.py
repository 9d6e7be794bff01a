"""Snakemake adapter: the claims table, computed from the run tables."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # this checkout's package


import pandas as pd

from collusion import claims, mitigation_claims

sys.stderr = open(snakemake.log[0], "w")


def read(paths):
    return pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)


def unmitigated(frame):
    return frame[~frame["experiment"].isin(mitigations)]


alpha, mitigations = snakemake.params.significance, snakemake.params.mitigations
runs = read(snakemake.input.runs)
# the paper's claims are about its objective: the mitigation experiments answer their own question
rows = claims.claim_rows(
    unmitigated(runs),
    unmitigated(read(snakemake.input.debias)),
    unmitigated(read(snakemake.input.learner_dropout)),
    alpha,
)
claims.write_claims(rows, snakemake.output.csv, snakemake.output.md, alpha)
mitigation_rows = mitigation_claims.mitigation_rows(runs, mitigations, alpha)
mitigation_rows.to_csv(snakemake.output.mitigations, index=False)
mitigation_claims.write_section(mitigation_rows, snakemake.output.md, alpha)
