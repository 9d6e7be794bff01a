# Data: fetch each raw source (download, verify the checksum, extract), then prepare each dataset
# into one file resources/prepared/<dataset>.npz (format: collusion.data.prepared).
# Sources, checksums and splits: src/collusion/data/{sources,paper_datasets,uci,imagenet}.py.
# The config's `data` section overrides URLs and checksums; see config/README.md.

from collusion.data import own
from collusion.data.imagenet import IMAGENET_DIR, IMAGENET_MANIFEST
from collusion.data.offline import OFFLINE_DATASETS
from collusion.data.paper_datasets import (
    PAPER_DATASETS,
    prepare_inputs,
    prepare_options,
)
from collusion.data.sources import SOURCES

DATA_CONFIG = config["data"]
# peak memory of preparation (the whole array is built in memory; ImageNet's goes through disk)
PREPARE_MEM_MB = {
    "cifar10": 4000,
    "cifar100": 4000,
    "svhn": 4000,
    "tiny_imagenet": 6000,
    "imagenet": 16000,
}


# URL and checksum overrides are read by the script from the config, not passed as params, so
# that pinning a sha256 or switching to a mirror does not re-download and re-prepare everything.
for _source in SOURCES.values():

    rule:
        name:
            f"download_{_source.name}"
        output:
            **{
                key: directory(path) if key == "extracted" else path
                for key, path in _source.outputs().items()
            },
        log:
            f"logs/data/download_{_source.name}.log",
        # fetch retries network errors itself; a checksum mismatch must fail at once, also under
        # a profile's global retries (the same URL would serve the same bytes)
        retries: 0
        localrule: True  # downloads run where the network is, not on a cluster's compute nodes
        conda:
            TORCH_ENV
        params:
            source=_source.name,
        script:
            "../scripts/download.py"


rule check_imagenet:
    """ImageNet needs an account: check the hand-placed copy (layout: collusion.data.imagenet)."""
    output:
        manifest=str(IMAGENET_MANIFEST),
    log:
        "logs/data/check_imagenet.log",
    localrule: True
    conda:
        TORCH_ENV
    params:
        source="imagenet",
        root=str(IMAGENET_DIR),
    script:
        "../scripts/download.py"


for _dataset in PAPER_DATASETS:

    rule:
        name:
            f"prepare_{_dataset}"
        input:
            prepare_inputs(_dataset),
        output:
            f"resources/prepared/{_dataset}.npz",
        log:
            f"logs/data/prepare_{_dataset}.log",
        conda:
            TORCH_ENV
        threads: 8 if _dataset == "imagenet" else 1
        resources:
            mem_mb=PREPARE_MEM_MB.get(_dataset, 1000),
        params:
            dataset=_dataset,
            options=prepare_options(_dataset, DATA_CONFIG),
        script:
            "../scripts/prepare.py"


rule prepare_offline:
    """Real datasets bundled with scikit-learn (digits, diabetes, ...): no download needed."""
    output:
        "resources/prepared/{dataset}.npz",
    log:
        "logs/data/prepare_{dataset}.log",
    wildcard_constraints:
        dataset="|".join(OFFLINE_DATASETS),
    conda:
        TORCH_ENV
    params:
        dataset="{dataset}",
        options={},
    script:
        "../scripts/prepare.py"


rule prepare_own:
    """A dataset of your own (the configuration's datasets:, collusion.data.own): its file, or what
    its loader returns, read, checked and written in the prepared format, with its md5. A loader's
    source file is the input, and the md5 of the data it returns part of the options param (a
    loader that reads another file: a change there reprepares too)."""
    input:
        lambda wc: str(own.source(config["datasets"][wc.dataset])),
    output:
        "resources/prepared/{dataset}.npz",
    log:
        "logs/data/prepare_{dataset}.log",
    wildcard_constraints:
        dataset=pipeline.one_of(config["datasets"]),
    conda:
        TORCH_ENV
    params:
        dataset="{dataset}",
        options=lambda wc: own.prepare_options(
            wc.dataset, config["datasets"][wc.dataset]
        ),
    script:
        "../scripts/prepare.py"


rule paper_data:
    """Named target: every dataset of the paper, downloaded and prepared (ImageNet placed by hand)."""
    input:
        expand("resources/prepared/{dataset}.npz", dataset=PAPER_DATASETS),
