"""Tiny raw datasets in the real on-disk formats, for offline tests of download and preparation.

- CIFAR-10/100: Python-2 pickles (dict keys and strings are py2 ``str``, i.e. SHORT_BINSTRING /
  BINSTRING opcodes, read back as bytes with encoding="bytes" and as str with "latin1"; data uint8
  (N, 3072) in R, G, B planes), inside a .tar.gz with the real directory and file names.
- SVHN: MATLAB v5 .mat files with X (32, 32, 3, N) uint8 and y (N, 1) where 10 means digit 0.
- Tiny ImageNet: the zip tree tiny-imagenet-200/ (wnids.txt, words.txt, train/<wnid>/images,
  train/<wnid>/<wnid>_boxes.txt, val/images + val_annotations.txt, test/images), 64x64 JPEGs,
  some of them greyscale.
- UCI zips: the CSV quirks of the real files (comma or ';' separators, a header or none, missing
  values, the weather file's two trailing summary rows without station and date).
- ImageNet: the hand-placed train/<wnid>/ and val/<wnid>/ tree, with odd images (greyscale, CMYK,
  a PNG named .JPEG, non-square sizes) as in the real set.
"""

from __future__ import annotations

import io
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image


class _Py2Pickler(pickle._Pickler):
    """Protocol-2 pickler that writes bytes and str as Python 2 ``str`` (like CIFAR's files)."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj):
        data = obj if isinstance(obj, bytes) else obj.encode("latin1")
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str
    dispatch[str] = _save_py2_str

    def save_global(self, obj, name=None):
        if getattr(obj, "__name__", None) == "_reconstruct":  # py2 numpy's module name
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)


def py2_pickle(obj) -> bytes:
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def _tar_add(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(payload))


def cifar_images(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)


def make_cifar10(
    directory: Path, per_batch: int = 10, n_test: int = 10, seed: int = 0
) -> tuple[Path, dict]:
    """cifar-10-python.tar.gz with 5 training batches of ``per_batch`` images; returns (path, truth)."""
    rng = np.random.default_rng(seed)
    names = [
        b"airplane",
        b"automobile",
        b"bird",
        b"cat",
        b"deer",
        b"dog",
        b"frog",
        b"horse",
        b"ship",
        b"truck",
    ]
    truth = {"x_train": [], "y_train": [], "x_test": None, "y_test": None}
    path = Path(directory) / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for b in range(1, 6):
            data, labels = cifar_images(per_batch, rng), rng.integers(0, 10, per_batch).tolist()
            truth["x_train"].append(data)
            truth["y_train"] += labels
            batch = {
                b"batch_label": f"training batch {b} of 5".encode(),
                b"labels": labels,
                b"data": data,
                b"filenames": [f"img_{b}_{i}.png".encode() for i in range(per_batch)],
            }
            _tar_add(tar, f"cifar-10-batches-py/data_batch_{b}", py2_pickle(batch))
        data, labels = cifar_images(n_test, rng), rng.integers(0, 10, n_test).tolist()
        truth["x_test"], truth["y_test"] = data, labels
        _tar_add(
            tar,
            "cifar-10-batches-py/test_batch",
            py2_pickle(
                {
                    b"batch_label": b"testing batch 1 of 1",
                    b"labels": labels,
                    b"data": data,
                    b"filenames": [f"test_{i}.png".encode() for i in range(n_test)],
                }
            ),
        )
        _tar_add(
            tar,
            "cifar-10-batches-py/batches.meta",
            py2_pickle(
                {b"num_cases_per_batch": per_batch, b"label_names": names, b"num_vis": 3072}
            ),
        )
        _tar_add(tar, "cifar-10-batches-py/readme.html", b"<html></html>")
    truth["x_train"] = np.concatenate(truth["x_train"])
    return path, truth


def make_cifar100(
    directory: Path, n_train: int = 50, n_test: int = 10, seed: int = 1
) -> tuple[Path, dict]:
    rng = np.random.default_rng(seed)
    truth = {}
    path = Path(directory) / "cifar-100-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for split, n in (("train", n_train), ("test", n_test)):
            data, fine = cifar_images(n, rng), rng.integers(0, 100, n).tolist()
            truth[f"x_{split}"], truth[f"y_{split}"] = data, fine
            _tar_add(
                tar,
                f"cifar-100-python/{split}",
                py2_pickle(
                    {
                        b"filenames": [f"{split}_{i}.png".encode() for i in range(n)],
                        b"batch_label": f"{split}ing batch 1 of 1".encode(),
                        b"fine_labels": fine,
                        b"coarse_labels": [f // 5 for f in fine],
                        b"data": data,
                    }
                ),
            )
        _tar_add(
            tar,
            "cifar-100-python/meta",
            py2_pickle(
                {
                    b"fine_label_names": [f"fine_{i}".encode() for i in range(100)],
                    b"coarse_label_names": [f"coarse_{i}".encode() for i in range(20)],
                }
            ),
        )
        _tar_add(tar, "cifar-100-python/file.txt~", b"")
    return path, truth


def make_svhn(directory: Path, split: str, n: int, seed: int = 2) -> tuple[Path, dict]:
    """{split}_32x32.mat (MATLAB v5): X (32, 32, 3, n) uint8, y (n, 1) uint8 in 1..10 (10 = digit 0)."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
    y = rng.integers(1, 11, size=(n, 1)).astype(np.uint8)
    y[0, 0] = 10  # make sure the 10 -> 0 rule is exercised
    path = Path(directory) / f"{split}_32x32.mat"
    scipy.io.savemat(path, {"X": X, "y": y}, format="5")
    return path, {"X": X, "y": y}


def jpeg_bytes(color, size=(64, 64), mode="RGB", fmt="JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format=fmt, quality=95)
    return buffer.getvalue()


TINY_WNIDS = ["n03444034", "n01443537", "n02124075"]  # deliberately not sorted
TINY_COLORS = {"n01443537": (200, 30, 30), "n02124075": (30, 200, 30), "n03444034": (30, 30, 200)}


def make_tiny_imagenet(
    directory: Path, per_class: int = 4, val_per_class: int = 4
) -> tuple[Path, dict]:
    """tiny-imagenet-200.zip: solid-colour 64x64 JPEGs (colour = class), one greyscale per split."""
    path = Path(directory) / "tiny-imagenet-200.zip"
    root = "tiny-imagenet-200"
    val_rows, grey = [], {}
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{root}/wnids.txt", "\n".join(TINY_WNIDS) + "\n")
        z.writestr(f"{root}/words.txt", "".join(f"{w}\tthing {w}\n" for w in TINY_WNIDS))
        for wnid in TINY_WNIDS:
            z.writestr(
                f"{root}/train/{wnid}/{wnid}_boxes.txt",
                "".join(f"{wnid}_{k}.JPEG\t0\t0\t63\t63\n" for k in range(per_class)),
            )
            for k in range(per_class):
                if wnid == "n02124075" and k == 1:
                    data, grey["train"] = jpeg_bytes(128, mode="L"), f"{wnid}_{k}.JPEG"
                else:
                    data = jpeg_bytes(TINY_COLORS[wnid])
                z.writestr(f"{root}/train/{wnid}/images/{wnid}_{k}.JPEG", data)
        for i in range(val_per_class * len(TINY_WNIDS)):
            wnid = TINY_WNIDS[(i * 7) % len(TINY_WNIDS)]  # interleaved classes, as in the real file
            if i == 5:
                data, grey["val"] = jpeg_bytes(90, mode="L"), f"val_{i}.JPEG"
            else:
                data = jpeg_bytes(TINY_COLORS[wnid])
            z.writestr(f"{root}/val/images/val_{i}.JPEG", data)
            val_rows.append(f"val_{i}.JPEG\t{wnid}\t0\t0\t63\t63\n")
        z.writestr(f"{root}/val/val_annotations.txt", "".join(val_rows))
        z.writestr(f"{root}/test/images/test_0.JPEG", jpeg_bytes((1, 2, 3)))
    return path, {"val_rows": val_rows, "grey": grey}


BIOCONCENTRATION_HEADER = (
    "CAS,SMILES,Set,nHM,piPC09,PCD,X2Av,MLOGP,ON1V,N-072,B02[C-N],F04[C-O],Class,logBCF"
)
WEATHER_HEADER = (
    "station,Date,Present_Tmax,Present_Tmin,LDAPS_RHmin,LDAPS_RHmax,LDAPS_Tmax_lapse,"
    "LDAPS_Tmin_lapse,LDAPS_WS,LDAPS_LH,LDAPS_CC1,LDAPS_CC2,LDAPS_CC3,LDAPS_CC4,LDAPS_PPT1,"
    "LDAPS_PPT2,LDAPS_PPT3,LDAPS_PPT4,lat,lon,DEM,Slope,Solar radiation,Next_Tmax,Next_Tmin"
)
FACEBOOK_HEADER = (
    "Page total likes;Type;Category;Post Month;Post Weekday;Post Hour;Paid;"
    "Lifetime Post Total Reach;Lifetime Post Total Impressions;Lifetime Engaged Users;"
    "Lifetime Post Consumers;Lifetime Post Consumptions;"
    "Lifetime Post Impressions by people who have liked your Page;"
    "Lifetime Post reach by people who like your Page;"
    "Lifetime People who have liked your Page and engaged with your post;comment;like;share;"
    "Total Interactions"
)


def _zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in members.items():
            z.writestr(name, text)
    return path


def make_uci(directory: Path, name: str, seed: int = 3) -> tuple[Path, dict]:
    """One UCI zip; returns (path, truth) with the rows the preparation must keep."""
    rng = np.random.default_rng(seed)
    directory = Path(directory)
    if name == "bioconcentration":
        n = 30
        rows = []
        for i in range(n):
            nhm, n072, b02, f04 = i % 3, i % 2, (i // 2) % 2, i % 4
            cont = rng.normal(size=5).round(3)
            rows.append(
                f"{100 + i}-02-7,O=[N+](c1ccc(cc1)O)[O-],{'Train' if i % 4 else 'Test'},"
                f"{nhm},{cont[0]},{cont[1]},{cont[2]},{cont[3]},{cont[4]},{n072},{b02},{f04},"
                f"{1 + i % 3},{round(float(rng.normal()), 2)}"
            )
        text = BIOCONCENTRATION_HEADER + "\n" + "\n".join(rows) + "\n"
        path = _zip(
            directory / "qsar_bioconcentration.zip", {"Grisoni_et_al_2016_EnvInt88.csv": text}
        )
        return path, {
            "n_rows": n,
            "logBCF": [float(r.rsplit(",", 1)[1]) for r in rows],
            "n_features": 5 + 3 + 2 + 2 + 4,
        }
    if name == "weather":
        n_valid, stations = 1010, 5
        lines, targets = [], []
        for i in range(n_valid + 6):
            values = rng.normal(size=22).round(3)
            station = 1 + i % stations
            missing = i in (3, 10, 500, 700, 900, 1001)  # dropped before the first 1000 are taken
            fields = [str(station), f"2013-{6 + i // 500:02d}-{1 + i % 28:02d}"]
            fields += ["" if missing and k == 4 else str(v) for k, v in enumerate(values[:21])]
            fields += [str(values[21]), str(values[0] - 1)]
            if not missing:
                targets.append(values[21])
            lines.append(",".join(fields))
        lines += [",," + ",".join(["-1.0"] * 23), ",," + ",".join(["99.0"] * 23)]  # summary rows
        text = WEATHER_HEADER + "\n" + "\n".join(lines) + "\n"
        path = _zip(
            directory / "bias_correction_temperature.zip", {"Bias_correction_ucl.csv": text}
        )
        return path, {"Next_Tmax": targets[:1000], "n_features": 21 + stations - 1}
    if name == "facebook":
        types = ["Photo", "Status", "Link", "Video"]
        lines, targets = [], []
        for i in range(20):
            numbers = rng.integers(0, 5000, size=16)
            fields = [
                str(139441 - i),
                types[i % 4],
                str(1 + i % 3),
                str(12 - i % 12),
                str(1 + i % 7),
                str(i % 24),
                "" if i == 7 else str(i % 2),
            ]
            fields += [str(v) for v in numbers[:12]]
            if i == 13:
                fields[-2] = ""  # a missing 'share', as in the real file
            if i not in (7, 13):
                targets.append(float(numbers[1]))
            lines.append(";".join(fields))
        text = FACEBOOK_HEADER + "\n" + "\n".join(lines) + "\n"
        path = _zip(
            directory / "facebook_metrics.zip",
            {"dataset_Facebook.csv": text, "Facebook_metrics.txt": "Moro et al. 2016\n"},
        )
        return path, {"Lifetime Post Total Impressions": targets, "n_features": 17 + 4}
    if name == "abalone":
        lines, rings = [], []
        for i in range(1010):
            sex = "MFI"[i % 3]
            sizes = rng.uniform(0.05, 0.8, size=7).round(4)
            rings.append(int(1 + i % 29))
            lines.append(",".join([sex, *map(str, sizes), str(rings[-1])]))
        path = _zip(
            directory / "abalone.zip",
            {
                "abalone.data": "\n".join(lines) + "\n",
                "abalone.names": "1. Title of Database: Abalone\n",
                "Index": "Index of abalone\n",
            },
        )
        return path, {
            "rings": rings[:1000],
            "sex": [line[0] for line in lines[:1000]],
            "n_features": 9,
        }
    raise ValueError(name)


IMAGENET_WNIDS = ["n01440764", "n01443537", "n01484850"]


def make_imagenet(root: Path) -> dict:
    """The hand-placed layout: train/<wnid>/*.JPEG (3 each), val/<wnid>/*.JPEG (4 each), odd images."""
    colors = {w: c for w, c in zip(IMAGENET_WNIDS, [(220, 20, 20), (20, 220, 20), (20, 20, 220)])}
    for split, count in (("train", 3), ("val", 4)):
        for wnid in IMAGENET_WNIDS:
            folder = Path(root) / split / wnid
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(count):
                size = (120, 80) if k % 2 else (70, 100)  # non-square, both orientations
                data = jpeg_bytes(colors[wnid], size=size)
                if split == "train" and wnid == IMAGENET_WNIDS[0] and k == 1:
                    data = jpeg_bytes(100, size=size, mode="L")
                if split == "train" and wnid == IMAGENET_WNIDS[1] and k == 2:
                    data = jpeg_bytes((0, 0, 0, 0), size=size, mode="CMYK")
                if split == "val" and wnid == IMAGENET_WNIDS[2] and k == 0:
                    data = jpeg_bytes(colors[wnid], size=size, fmt="PNG")  # a PNG named .JPEG
                name = (
                    f"{wnid}_{k}.JPEG"
                    if split == "train"
                    else f"ILSVRC2012_val_{wnid[-3:]}{k}.JPEG"
                )
                (folder / name).write_bytes(data)
    return {"colors": colors}


def make_all_sources(directory: Path) -> dict:
    """Every downloadable source as a tiny file under ``directory``; returns the config's ``data``
    section that points the download rules at them (file:// URLs, md5 overrides)."""
    import hashlib

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "cifar10": make_cifar10(directory)[0],
        "cifar100": make_cifar100(directory)[0],
        "svhn_train": make_svhn(directory, "train", 40)[0],
        "svhn_test": make_svhn(directory, "test", 20, seed=5)[0],
        "tiny_imagenet": make_tiny_imagenet(directory)[0],
        **{
            f"uci_{name}": make_uci(directory, name)[0]
            for name in ("bioconcentration", "weather", "facebook", "abalone")
        },
    }
    return {
        "urls": {name: path.resolve().as_uri() for name, path in files.items()},
        "md5": {
            name: hashlib.md5(path.read_bytes()).hexdigest()
            for name, path in files.items()
            if not name.startswith("uci_")
        },
    }


if __name__ == "__main__":  # python tests/data/raw_formats.py DIR > data.yaml (for CI configs)
    import sys

    import yaml

    print(yaml.safe_dump({"data": make_all_sources(Path(sys.argv[1]))}, sort_keys=False))
