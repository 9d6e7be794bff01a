"""Snakemake adapter: write one dataset in the prepared format (collusion.data.prepared)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # this checkout's package

import logging

import numpy as np

logging.basicConfig(
    level=logging.INFO,
    format="%(asctime)s %(levelname)s %(message)s",
    handlers=[logging.FileHandler(snakemake.log[0]), logging.StreamHandler(sys.stderr)],
)
name, out = snakemake.params.dataset, snakemake.output[0]
try:
    if snakemake.rule == "prepare_offline":
        from collusion.data.offline import prepare_offline

        prepare_offline(name, out)
    elif snakemake.rule == "prepare_own":
        from collusion.data.own import prepare_own

        prepare_own(name, dict(snakemake.params.options), out)
    else:
        from collusion.data.paper_datasets import prepare_paper_dataset

        options = {**snakemake.params.options, "workers": snakemake.threads}
        prepare_paper_dataset(name, list(snakemake.input), out, options)
    with np.load(out) as prepared:
        sizes = {k: len(prepared[k]) for k in ("train_idx", "val_idx", "test_idx") if k in prepared}
        logging.info(
            "%s: X %s %s, task %s, split %s",
            out,
            prepared["X"].shape,
            prepared["X"].dtype,
            prepared["task"],
            sizes or "random at train time",
        )
except Exception:
    logging.exception("preparing %s failed", name)
    raise
