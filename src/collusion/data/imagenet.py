"""ImageNet (ILSVRC-2012): placed by hand, checked, listed, and prepared as a downscaled copy.

ImageNet cannot be downloaded without an account, so the pipeline expects it at

    resources/raw/imagenet/
        train/<wnid>/*.JPEG    1000 class folders, 1,281,167 images
        val/<wnid>/*.JPEG      the 50,000 validation images sorted into the same class folders

(a symbolic link to a shared copy is fine). The Kaggle "ImageNet Object Localization Challenge"
and image-net.org downloads both unpack train/ this way; their val/ is one flat folder: sort it
into class folders with the validation labels (LOC_val_solution.csv on Kaggle, or the development
kit's ground truth), e.g. with the widely used valprep.sh script. Class index = position of the
wnid in sorted(train folders), as in torchvision's ImageFolder.

``check_imagenet`` verifies this layout and writes a manifest (split, class, relative path) so that
preparation does not rescan a million files. A whole-resolution uint8 copy would be ~190 GB, too
big for the one-array prepared format that training keeps in memory, so ``prepare_imagenet``
stores a downscaled copy: shorter side resized to ``size`` pixels, centre crop size x size
(default 64, about 16 GB; 32 gives about 4 GB), as in the "downsampled ImageNet" variants.
"""

from __future__ import annotations

import os
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from .prepared import save_prepared
from .readers import decode_rgb

IMAGENET_DIR = Path("resources/raw/imagenet")
IMAGENET_MANIFEST = Path("resources/manifests/imagenet.tsv")
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)

INSTRUCTIONS = """ImageNet needs an account, so it is not downloaded: place it by hand.
Expected layout (a symbolic link to a shared copy is fine):
    {root}/train/<wnid>/*.JPEG   (1000 class folders, 1,281,167 images)
    {root}/val/<wnid>/*.JPEG     (the 50,000 validation images in the same class folders)
Get it from https://image-net.org (ILSVRC2012_img_train.tar, ILSVRC2012_img_val.tar) or Kaggle's
"ImageNet Object Localization Challenge"; sort the flat val/ folder into class folders with the
validation labels (e.g. the widely used valprep.sh). Then run the workflow again."""


class ImageNetMissing(FileNotFoundError):
    """The user-placed ImageNet directory is absent or incomplete."""


def check_imagenet(root: str | Path, manifest: str | Path) -> dict[str, int]:
    """Verify the layout under ``root`` and write ``manifest`` (TSV: split, class, path); return counts."""
    root = Path(root)
    problem = None
    if not (root / "train").is_dir() or not (root / "val").is_dir():
        problem = f"{root}/train and {root}/val must both exist."
    else:
        train_classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
        val_classes = sorted(p.name for p in (root / "val").iterdir() if p.is_dir())
        if not train_classes:
            problem = f"{root}/train has no class folders."
        elif set(val_classes) - set(train_classes) or not val_classes:
            problem = (
                f"{root}/val must hold class folders named like those in train/ "
                f"(found {len(val_classes)} folders, {len(set(val_classes) - set(train_classes))} unknown)."
            )
    if problem:
        raise ImageNetMissing(problem + "\n" + INSTRUCTIONS.format(root=root))

    index = {wnid: i for i, wnid in enumerate(train_classes)}
    rows, counts = [], {}
    for split, classes in (("train", train_classes), ("val", val_classes)):
        for wnid in classes:
            files = sorted(
                entry.name
                for entry in os.scandir(root / split / wnid)
                if entry.is_file() and entry.name.lower().endswith(IMAGE_SUFFIXES)
            )
            if not files:
                raise ImageNetMissing(
                    f"{root / split / wnid} has no images.\n" + INSTRUCTIONS.format(root=root)
                )
            rows += [f"{split}\t{index[wnid]}\t{split}/{wnid}/{name}\n" for name in files]
            counts[split] = counts.get(split, 0) + len(files)
    manifest = Path(manifest)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    tmp = manifest.with_name(f".{manifest.name}.part")
    with open(tmp, "w") as out:
        out.write(f"# root\t{root}\n# classes\t{' '.join(train_classes)}\n")
        out.writelines(rows)
    os.replace(tmp, manifest)
    return {"classes": len(train_classes), **counts}


def read_manifest(manifest: str | Path) -> tuple[Path, list[str], list[tuple[str, int, str]]]:
    root, classes, rows = None, [], []
    for line in Path(manifest).read_text().splitlines():
        fields = line.split("\t")
        if fields[0] == "# root":
            root = Path(fields[1])
        elif fields[0] == "# classes":
            classes = fields[1].split()
        else:
            rows.append((fields[0], int(fields[1]), fields[2]))
    return root, classes, rows


def _decode(args: tuple[str, int]) -> np.ndarray:
    file, size = args
    return decode_rgb(file, size).transpose(2, 0, 1)


def prepare_imagenet(
    manifest: str | Path, out: str | Path, size: int = 64, workers: int = 1
) -> None:
    """Write the downscaled ImageNet in the prepared format.

    train = the official training set; the official validation set is halved per class (in file
    name order): first half = val (model selection), second half = test.
    """
    root, classes, rows = read_manifest(manifest)
    files = [str(root / path) for _, _, path in rows]
    labels = np.array([label for _, label, _ in rows], dtype=np.int64)
    is_train = np.array([split == "train" for split, _, _ in rows])

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pixels = out.with_name(f".{out.stem}.pixels.npy")  # on disk: the array can exceed memory
    X = np.lib.format.open_memmap(
        pixels, mode="w+", dtype=np.uint8, shape=(len(files), 3, size, size)
    )
    try:
        jobs = ((file, size) for file in files)
        if workers > 1:
            with Pool(workers) as pool:
                for i, image in enumerate(pool.imap(_decode, jobs, chunksize=256)):
                    X[i] = image
        else:
            for i, job in enumerate(jobs):
                X[i] = _decode(job)
        X.flush()

        train_idx = np.flatnonzero(is_train)
        val_idx, test_idx = [], []
        official_val = np.flatnonzero(~is_train)  # rows are in class, then file name order
        for label in np.unique(labels[official_val]):
            members = official_val[labels[official_val] == label]
            half = len(members) // 2
            val_idx.append(members[:half])
            test_idx.append(members[half:])
        save_prepared(
            out,
            X=X,
            y=labels,
            task="classification",
            n_classes=len(classes),
            scale=255.0,
            mean=MEAN,
            std=STD,
            train_idx=train_idx,
            val_idx=np.concatenate(val_idx),
            test_idx=np.concatenate(test_idx),
            class_names=np.asarray(classes),
        )
    finally:
        del X
        pixels.unlink(missing_ok=True)
