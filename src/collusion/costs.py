"""What a training job asks of a cluster: which datasets need a GPU, and a rough cost model of a
job's minutes (its runtime request, and its priority when run locally). collusion.cluster turns
these into SLURM requests (partition caps, segments, GPU resources). Torch-free."""

from __future__ import annotations

import math

from .pipeline import Run, run_spec

# Resources of a training job (read by the SLURM profile). Rough, deliberately generous: minutes per
# learner-epoch of a ResNet-18-sized model on one current GPU, times the architecture's relative
# cost; CPU datasets (tables, the offline data) get CPU minutes. Override single rules with
# --set-resources when your hardware differs.
GPU_DATASETS = {"cifar10", "cifar100", "svhn", "tiny_imagenet", "imagenet"}
MINUTES_PER_LEARNER_EPOCH = {
    "cifar10": 0.15,
    "cifar100": 0.15,
    "svhn": 0.2,
    "tiny_imagenet": 0.6,
    "imagenet": 0.3,  # per period of eval_every_steps minibatches (the authors' ImageNet recipe)
}
CPU_MINUTES_PER_LEARNER_EPOCH = 0.002
# a dataset of your own marked gpu: true: CIFAR-sized until told otherwise (--set-resources)
OWN_GPU_MINUTES_PER_LEARNER_EPOCH = 0.15
ARCH_COST = {
    "mlp": 0.05,
    "cnn": 0.2,
    "cnn1d": 0.1,
    "resnet18": 1.0,
    "resnet34": 2.0,
    "vgg16_bn": 1.0,
    "vit": 2.0,
    "simple_vit": 1.5,
    "tv_resnet18": 1.0,
    "tv_resnet34": 2.0,
    "squeezenet1_1": 0.5,
    "densenet121": 3.0,
    "shufflenet_v2_x1_0": 0.7,
    "mobilenet_v3_small": 0.5,
    "mobilevit_xs": 2.0,
}


def needs_gpu(config: dict, dataset: str) -> bool:
    """Do the training jobs of ``dataset`` ask for a GPU (and train one run per job, unpacked): the
    paper's image datasets, and a dataset of your own marked ``gpu: true``."""
    own = config.get("datasets", {}).get(dataset, {})
    return dataset in GPU_DATASETS or bool(own.get("gpu", False))


def train_resources(config: dict, run: Run, runs_in_job: int = 1) -> dict:
    """gpu (count), runtime (whole minutes, before the attempt factor) of one training job (a run,
    or a pack of ``runs_in_job`` runs), and ``minutes``, the estimate unrounded: the training rules'
    priority, so that the longest jobs start first and no long one is left to run alone at the end."""
    spec = run_spec(config, run)
    gpu = int(needs_gpu(config, run.dataset))
    per_epoch = (
        MINUTES_PER_LEARNER_EPOCH.get(run.dataset, OWN_GPU_MINUTES_PER_LEARNER_EPOCH)
        * ARCH_COST.get(spec.arch, 2.0)
        if gpu
        else CPU_MINUTES_PER_LEARNER_EPOCH * ARCH_COST.get(spec.arch, 1.0)
    )
    minutes = (10 if gpu else 2) + 1.5 * spec.recipe.epochs * run.members * runs_in_job * per_epoch
    return {"gpu": gpu, "runtime": int(math.ceil(minutes)), "minutes": minutes}
