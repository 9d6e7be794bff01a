"""Snakemake adapter: draw one figure (PDF + PNG) from its tables."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # this checkout's package

import pandas as pd

from collusion import figures
from collusion.figures.common import save

sys.stderr = open(snakemake.log[0], "w")


def read(paths):
    paths = [paths] if isinstance(paths, str) else paths
    return pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)


name = snakemake.params.name
tables = {figures.input_name(s): read(snakemake.input[figures.input_name(s)]) for s in figures.FIGURES[name].inputs}
save(figures.draw(name, tables), snakemake.output.pdf, snakemake.output.png)
