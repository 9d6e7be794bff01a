"""Snakemake adapter: train one run (see collusion.train)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # this checkout's package


from collusion.runner import train_run

with open(snakemake.log[0], "a") as log_file:
    sys.stderr = log_file
    train_run(
        spec=snakemake.params.spec,
        split=snakemake.params.split,
        data_path=snakemake.input.data,
        outputs=snakemake.output,
        threads=snakemake.threads,
        keep_checkpoint=snakemake.params.keep_checkpoint,
        log_file=log_file,
    )
