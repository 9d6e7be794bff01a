"""Every dataset the pipeline knows, with its task; one place for config validation to ask."""

from __future__ import annotations

DATASET_TASKS: dict[str, str] = {
    # offline: shipped inside scikit-learn
    "digits": "classification",
    "diabetes": "regression",
    "breast_cancer": "classification",
    "wine": "classification",
    # the paper's (downloaded; ImageNet placed by hand)
    "cifar10": "classification",
    "cifar100": "classification",
    "svhn": "classification",
    "tiny_imagenet": "classification",
    "imagenet": "classification",
    "bioconcentration": "regression",
    "weather": "regression",
    "facebook": "regression",
    "abalone": "regression",
}


def dataset_task(name: str) -> str:
    if name not in DATASET_TASKS:
        raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(sorted(DATASET_TASKS))}")
    return DATASET_TASKS[name]
