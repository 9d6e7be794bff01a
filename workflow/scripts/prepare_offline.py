"""Snakemake adapter: write a scikit-learn bundled dataset in the prepared format."""

from collusion.data.offline import prepare_offline

prepare_offline(snakemake.wildcards.dataset, snakemake.output[0])
