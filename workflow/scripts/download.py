"""Snakemake adapter: fetch one raw source (download, verify, extract), or check ImageNet."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # this checkout's package

import logging
from pathlib import Path

from collusion.data import imagenet, sources

logging.basicConfig(
    level=logging.INFO,
    format="%(asctime)s %(levelname)s %(message)s",
    handlers=[logging.FileHandler(snakemake.log[0]), logging.StreamHandler(sys.stderr)],
)
try:
    if snakemake.params.source == "imagenet":
        counts = imagenet.check_imagenet(snakemake.params.root, snakemake.output.manifest)
        logging.info("ImageNet at %s: %s", snakemake.params.root, counts)
    else:
        source = sources.configured_source(snakemake.params.source, snakemake.config["data"])
        raw_root = Path(snakemake.output.file).parent.parent  # <raw root>/<source>/<file>
        sources.fetch(source, raw_root)
except Exception:
    logging.exception("%s failed", snakemake.rule)
    raise
