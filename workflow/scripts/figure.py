"""Snakemake adapter: draw one figure (PDF + PNG) from its tables."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # this checkout's package

import importlib

import pandas as pd

sys.stderr = open(snakemake.log[0], "w")
module = importlib.import_module(f"collusion.figures.{snakemake.params.name}")
from collusion.figures.common import save  # noqa: E402

tables = {
    key: pd.concat([pd.read_csv(path) for path in ([paths] if isinstance(paths, str) else paths)], ignore_index=True)
    for key, paths in snakemake.input.items()
    if key != "code"
}
save(module.draw(tables), snakemake.output.pdf, snakemake.output.png)
