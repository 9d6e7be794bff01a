"""Snakemake adapter: draw one figure (PDF + PNG) from its tables."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # this checkout's package

from collusion import figures
from collusion.figures.common import save

sys.stderr = open(snakemake.log[0], "w")
name = snakemake.params.name
inputs = [figures.input_name(source) for source in figures.FIGURES[name].inputs]
tables = {key: figures.read_inputs(snakemake.input[key]) for key in inputs}
figure = figures.draw(name, tables, **snakemake.params.options)
save(figure, snakemake.output.pdf, snakemake.output.png)
