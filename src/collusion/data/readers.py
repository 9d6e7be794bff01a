"""Readers for the paper's image datasets, from their extracted raw files to uint8 (N, 3, H, W).

CIFAR and SVHN are read by torchvision's own dataset classes. Those classes check the md5 of
every extracted file even with ``download=False``; here the archive (or the .mat file) was already
checked against its published md5 before extraction (collusion.data.sources), so the second check
is redundant, and it would reject the tests' small files that have the real format but not the
real content. The subclasses below therefore set the per-file md5s to None, which makes
torchvision's ``check_integrity`` test only that each file exists. torchvision is imported lazily
(it costs seconds).

Tiny ImageNet has no torchvision class: ``read_tiny_imagenet`` is a small reader of its tree.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _archive_verified(base: type) -> type:
    """``base`` (a torchvision CIFAR class) without its per-file md5 checks (see module doc)."""
    return type(
        f"ArchiveVerified{base.__name__}",
        (base,),
        {
            "train_list": [[name, None] for name, _ in base.train_list],
            "test_list": [[name, None] for name, _ in base.test_list],
            "meta": {**base.meta, "md5": None},
        },
    )


def read_cifar(name: str, root: str | Path) -> dict[str, np.ndarray]:
    """CIFAR-10/100 from ``root`` (the directory holding cifar-10-batches-py / cifar-100-python).

    Returns x_train (50000, 3, 32, 32) uint8, y_train int64 (fine labels for CIFAR-100), x_test,
    y_test and class_names, in the files' order.
    """
    from torchvision import datasets

    base = {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100}[name]
    reader = _archive_verified(base)
    root = Path(root)
    if not (root / base.base_folder).is_dir():
        raise FileNotFoundError(
            f"{root / base.base_folder} is missing: run the download_{name} rule"
        )
    train, test = reader(str(root), train=True), reader(str(root), train=False)
    return {
        "x_train": np.ascontiguousarray(train.data.transpose(0, 3, 1, 2)),  # HWC -> CHW
        "y_train": np.asarray(train.targets, dtype=np.int64),
        "x_test": np.ascontiguousarray(test.data.transpose(0, 3, 1, 2)),
        "y_test": np.asarray(test.targets, dtype=np.int64),
        "class_names": np.asarray(train.classes),
    }


def read_svhn(mat_file: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One SVHN .mat file (X (32, 32, 3, N), y (N, 1) with 10 meaning 0) -> (N, 3, 32, 32), labels 0..9."""
    from torchvision import datasets

    base = datasets.SVHN
    reader = type(
        "ArchiveVerifiedSVHN",
        (base,),
        {"split_list": {key: [url, file, None] for key, (url, file, _) in base.split_list.items()}},
    )
    mat_file = Path(mat_file)
    expected = base.split_list[split][1]
    if mat_file.name != expected:
        raise ValueError(f"SVHN {split} split must be a file named {expected}, got {mat_file}")
    data = reader(str(mat_file.parent), split=split)
    return np.ascontiguousarray(data.data), np.asarray(data.labels, dtype=np.int64)


def read_tiny_imagenet(root: str | Path) -> dict[str, np.ndarray]:
    """Tiny ImageNet from ``root`` (the directory holding tiny-imagenet-200/, or that directory).

    Layout: wnids.txt; train/<wnid>/images/*.JPEG (500 per class); val/images/*.JPEG with
    val/val_annotations.txt (tab-separated: file, wnid, box). The unlabelled test/ set is ignored.
    Class index = position of the wnid in sorted(wnids). Training images are ordered by class,
    then file name; validation images in the order of val_annotations.txt. Greyscale (and any
    other mode) is converted to RGB with PIL.
    """
    root = Path(root)
    if not (root / "wnids.txt").is_file() and (root / "tiny-imagenet-200").is_dir():
        root = root / "tiny-imagenet-200"
    if not (root / "wnids.txt").is_file():
        raise FileNotFoundError(f"no wnids.txt under {root}: run the download_tiny_imagenet rule")
    wnids = sorted(
        line.strip() for line in (root / "wnids.txt").read_text().splitlines() if line.strip()
    )
    index = {wnid: i for i, wnid in enumerate(wnids)}

    train_files, train_labels = [], []
    for wnid in wnids:
        files = sorted((root / "train" / wnid / "images").glob("*.JPEG"))
        if not files:
            raise FileNotFoundError(f"no training images in {root / 'train' / wnid / 'images'}")
        train_files += files
        train_labels += [index[wnid]] * len(files)

    val_files, val_labels = [], []
    for line in (root / "val" / "val_annotations.txt").read_text().splitlines():
        if not line.strip():
            continue
        file, wnid = line.split("\t")[:2]
        if wnid not in index:
            raise ValueError(f"val_annotations.txt names {wnid!r}, which is not in wnids.txt")
        val_files.append(root / "val" / "images" / file)
        val_labels.append(index[wnid])

    return {
        "x_train": load_images(train_files),
        "y_train": np.asarray(train_labels, dtype=np.int64),
        "x_val": load_images(val_files),
        "y_val": np.asarray(val_labels, dtype=np.int64),
        "class_names": np.asarray(wnids),
    }


def load_images(files: list[Path], size: int | None = None) -> np.ndarray:
    """Decode image files to uint8 (N, 3, H, W), RGB; all must share one size unless ``size`` given."""
    out = None
    for i, file in enumerate(files):
        image = decode_rgb(file, size)
        if out is None:
            out = np.empty((len(files), 3, *image.shape[:2]), dtype=np.uint8)
        if image.shape[:2] != out.shape[2:]:
            raise ValueError(
                f"{file} is {image.shape[1]}x{image.shape[0]}, expected "
                f"{out.shape[3]}x{out.shape[2]} like the others"
            )
        out[i] = image.transpose(2, 0, 1)
    if out is None:
        raise ValueError("no images to load")
    return out


def decode_rgb(file: str | Path, size: int | None = None) -> np.ndarray:
    """One image as uint8 (H, W, 3) RGB; with ``size``: shorter side resized to it, centre-cropped."""
    from PIL import Image

    with Image.open(file) as image:
        if size is not None:
            image.draft("RGB", (size, size))  # lets the JPEG decoder downscale cheaply
            image = image.convert("RGB")
            width, height = image.size
            scale = size / min(width, height)
            resized = (max(size, round(width * scale)), max(size, round(height * scale)))
            image = image.resize(resized, Image.Resampling.BILINEAR, reducing_gap=3.0)
            left, top = (resized[0] - size) // 2, (resized[1] - size) // 2
            image = image.crop((left, top, left + size, top + size))
        else:
            image = image.convert("RGB")
        return np.asarray(image, dtype=np.uint8)
