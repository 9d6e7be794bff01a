"""Raw files in the real formats -> the real download-verify-extract-prepare code -> prepared .npz."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from collusion.config_errors import validate
from collusion.data.imagenet import check_imagenet, prepare_imagenet
from collusion.data.paper_datasets import (
    PAPER_DATASETS,
    prepare_inputs,
    prepare_options,
    prepare_paper_dataset,
)
from collusion.data.prepared import load_dataset
from collusion.data.sources import SOURCES, configured_source, fetch
from data.raw_formats import (
    IMAGENET_WNIDS,
    TINY_COLORS,
    TINY_WNIDS,
    make_all_sources,
    make_cifar10,
    make_cifar100,
    make_imagenet,
    make_svhn,
    make_tiny_imagenet,
    make_uci,
)

REPO = Path(__file__).resolve().parents[1]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def fetched(name: str, archive: Path, raw: Path) -> Path:
    """Run the real fetch on a file:// URL; return what the prepare rule gets as input."""
    source = replace(SOURCES[name], url=archive.as_uri(), md5=md5(archive))
    fetch(source, raw)
    return source.extracted(raw) if source.archive else source.path(raw)


def load(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def assert_partition(p: dict, n: int, sizes: tuple[int, int, int]) -> None:
    parts = [p["train_idx"], p["val_idx"], p["test_idx"]]
    assert tuple(map(len, parts)) == sizes
    joined = np.concatenate(parts)
    assert len(np.unique(joined)) == len(joined) == n  # disjoint and complete


def test_cifar10_authors_split(tmp_path):
    archive, truth = make_cifar10(tmp_path)
    out = tmp_path / "prepared" / "cifar10.npz"
    prepare_paper_dataset("cifar10", [fetched("cifar10", archive, tmp_path / "raw")], out)
    p = load(out)
    assert p["X"].shape == (60, 3, 32, 32) and p["X"].dtype == np.uint8
    assert p["y"].dtype == np.int64 and p["y"].min() >= 0 and p["y"].max() <= 9
    assert str(p["task"]) == "classification" and int(p["n_classes"]) == 10
    assert_partition(p, 60, (40, 10, 10))
    np.testing.assert_array_equal(p["val_idx"], np.arange(10))  # the first 20 % of training images
    np.testing.assert_array_equal(p["test_idx"], np.arange(50, 60))
    # rows of 3072 bytes are R, G, B planes of 32 x 32
    np.testing.assert_array_equal(p["X"][:50].reshape(50, -1), truth["x_train"])
    np.testing.assert_array_equal(p["X"][7, 1], truth["x_train"][7, 1024:2048].reshape(32, 32))
    np.testing.assert_array_equal(p["y"], truth["y_train"] + truth["y_test"])
    np.testing.assert_allclose(p["mean"] * 255, [125.3, 123.0, 113.9], rtol=1e-6)
    assert p["class_names"][0] == "airplane"

    data = load_dataset(out, None, 0)
    assert (len(data.train), len(data.val), len(data.test)) == (40, 10, 10)
    assert data.in_shape == (3, 32, 32) and data.out_dim == 10
    assert abs(float(data.normalise(data.train.x).mean())) < 1.0


def test_cifar10_seeded_random_validation(tmp_path):
    archive, _ = make_cifar10(tmp_path)
    root = fetched("cifar10", archive, tmp_path / "raw")
    splits = []
    for seed in (0, 0, 1):
        out = tmp_path / f"cifar10_{len(splits)}.npz"
        prepare_paper_dataset(
            "cifar10", [root], out, {"cifar_validation": "random", "cifar_validation_seed": seed}
        )
        splits.append(load(out))
    assert_partition(splits[0], 60, (40, 10, 10))
    np.testing.assert_array_equal(splits[0]["val_idx"], splits[1]["val_idx"])  # seeded
    assert not np.array_equal(splits[0]["val_idx"], splits[2]["val_idx"])
    assert not np.array_equal(splits[0]["val_idx"], np.arange(10))
    assert splits[0]["val_idx"].max() < 50  # drawn from the training images only
    np.testing.assert_array_equal(splits[0]["test_idx"], np.arange(50, 60))
    with pytest.raises(ValueError, match="cifar_validation must be 'first' or 'random'"):
        prepare_paper_dataset("cifar10", [root], tmp_path / "bad.npz", {"cifar_validation": "last"})
    assert not (tmp_path / "bad.npz").exists()


def test_cifar100_fine_labels(tmp_path):
    archive, truth = make_cifar100(tmp_path)
    out = tmp_path / "cifar100.npz"
    prepare_paper_dataset("cifar100", [fetched("cifar100", archive, tmp_path / "raw")], out)
    p = load(out)
    assert p["X"].shape == (60, 3, 32, 32) and int(p["n_classes"]) == 100
    np.testing.assert_array_equal(p["y"], truth["y_train"] + truth["y_test"])
    assert p["y"].max() <= 99 and len(p["class_names"]) == 100
    assert_partition(p, 60, (40, 10, 10))


def test_svhn_authors_split_and_label_zero(tmp_path):
    train, train_truth = make_svhn(tmp_path, "train", 12)
    test, test_truth = make_svhn(tmp_path, "test", 9, seed=5)
    inputs = [
        fetched("svhn_train", train, tmp_path / "raw"),
        fetched("svhn_test", test, tmp_path / "raw"),
    ]
    assert inputs[0] == tmp_path / "raw" / "svhn_train" / "train_32x32.mat"
    out = tmp_path / "svhn.npz"
    prepare_paper_dataset("svhn", inputs, out)
    p = load(out)
    assert p["X"].shape == (21, 3, 32, 32) and p["X"].dtype == np.uint8
    labels = np.concatenate([train_truth["y"][:, 0], test_truth["y"][:, 0]]).astype(np.int64) % 10
    np.testing.assert_array_equal(p["y"], labels)
    assert p["y"][0] == 0 and p["y"].max() <= 9
    # X[h, w, c, i] of the .mat file is pixel (h, w), channel c of image i
    np.testing.assert_array_equal(p["X"][3], train_truth["X"][..., 3].transpose(2, 0, 1))
    np.testing.assert_array_equal(p["train_idx"], np.arange(12))
    np.testing.assert_array_equal(p["test_idx"], 12 + np.arange(4))  # first floor(9/2) test images
    np.testing.assert_array_equal(p["val_idx"], 12 + np.arange(4, 9))
    assert_partition(p, 21, (12, 5, 4))
    np.testing.assert_allclose(p["mean"], 0.1307) and np.testing.assert_allclose(p["std"], 0.3081)


def test_tiny_imagenet_classes_greyscale_and_val_halves(tmp_path):
    archive, truth = make_tiny_imagenet(tmp_path)
    out = tmp_path / "tiny_imagenet.npz"
    prepare_paper_dataset(
        "tiny_imagenet", [fetched("tiny_imagenet", archive, tmp_path / "raw")], out
    )
    p = load(out)
    assert p["X"].shape == (24, 3, 64, 64) and p["X"].dtype == np.uint8
    wnids = sorted(TINY_WNIDS)
    assert list(p["class_names"]) == wnids and int(p["n_classes"]) == 3
    assert_partition(p, 24, (12, 6, 6))
    np.testing.assert_array_equal(p["y"][:12], np.repeat([0, 1, 2], 4))  # class = sorted wnid index
    # every image has its class colour, except the two greyscale ones, now RGB with equal channels
    means = p["X"].reshape(24, 3, -1).mean(axis=2)
    grey = [wnids.index("n02124075") * 4 + 1, 12 + 5]  # train: n02124075_1.JPEG; val: val_5.JPEG
    for i in range(24):
        if i in grey:
            assert np.ptp(means[i]) < 1.0
        else:
            np.testing.assert_allclose(means[i], TINY_COLORS[wnids[p["y"][i]]], atol=3)
    # val/test: first/second half of each class in val_annotations.txt order
    val_labels = [wnids.index(row.split("\t")[1]) for row in truth["val_rows"]]
    np.testing.assert_array_equal(p["y"][12:], val_labels)
    for label in range(3):
        members = 12 + np.flatnonzero(np.array(val_labels) == label)
        assert set(p["val_idx"]) >= set(members[:2]) and set(p["test_idx"]) >= set(members[2:])


@pytest.mark.parametrize("name", ["bioconcentration", "weather", "facebook", "abalone"])
def test_uci_tables(tmp_path, name):
    archive, truth = make_uci(tmp_path, name)
    source = PAPER_DATASETS[name][0]
    out = tmp_path / f"{name}.npz"
    prepare_paper_dataset(name, [fetched(source, archive, tmp_path / "raw")], out)
    p = load(out)
    assert str(p["task"]) == "regression" and int(p["n_classes"]) == 0
    assert p["X"].dtype == np.float32 and p["y"].dtype == np.float32
    assert "train_idx" not in p  # split at train time with the run seed
    assert p["X"].shape[1] == truth["n_features"] == len(p["feature_names"])
    assert np.isfinite(p["X"]).all() and np.isfinite(p["y"]).all()
    if name == "bioconcentration":
        np.testing.assert_allclose(p["y"], truth["logBCF"], rtol=1e-6)
        assert "nHM_2" in p["feature_names"] and "CAS" not in p["feature_names"]
    elif name == "weather":  # dropna first, then the first 1000 rows
        np.testing.assert_allclose(p["y"], truth["Next_Tmax"], rtol=1e-6)
        assert not {"Date", "Next_Tmin", "Next_Tmax", "station_1"} & set(p["feature_names"])
        assert {"station_2", "station_5"} <= set(p["feature_names"])
    elif name == "facebook":  # ';'-separated, rows with missing values dropped
        np.testing.assert_allclose(p["y"], truth["Lifetime Post Total Impressions"])
        type_columns = [i for i, f in enumerate(p["feature_names"]) if f.startswith("Type_")]
        assert len(type_columns) == 4
        np.testing.assert_array_equal(p["X"][:, type_columns].sum(axis=1), 1)
    else:  # no header; first 1000 rows; Sex one-hot without F
        assert p["X"].shape[0] == 1000
        np.testing.assert_array_equal(p["y"], truth["rings"])
        assert list(p["feature_names"][-2:]) == ["Sex_I", "Sex_M"]
        sex = np.array(truth["sex"])
        np.testing.assert_array_equal(p["X"][:, -2], sex == "I")
        np.testing.assert_array_equal(p["X"][:, -1], sex == "M")

    data = load_dataset(out, [0.8, 0.1, 0.1], split_seed=3)
    assert data.task == "regression" and abs(float(data.train.y.mean())) < 1e-4


def test_imagenet_downscaled_copy(tmp_path):
    root = tmp_path / "raw" / "imagenet"
    truth = make_imagenet(root)
    manifest = tmp_path / "raw" / "imagenet_manifest.tsv"
    check_imagenet(root, manifest)
    out = tmp_path / "imagenet.npz"
    prepare_paper_dataset("imagenet", [manifest], out, {"imagenet_size": 8, "workers": 2})
    p = load(out)
    assert p["X"].shape == (21, 3, 8, 8) and p["X"].dtype == np.uint8 and int(p["n_classes"]) == 3
    assert list(p["class_names"]) == sorted(IMAGENET_WNIDS)
    assert_partition(p, 21, (9, 6, 6))
    np.testing.assert_array_equal(np.bincount(p["y"][p["val_idx"]]), [2, 2, 2])
    np.testing.assert_array_equal(np.bincount(p["y"][p["test_idx"]]), [2, 2, 2])
    # colour images keep their class colour after resizing (greyscale/CMYK ones become RGB)
    means = p["X"].reshape(21, 3, -1).mean(axis=2)
    for i in np.concatenate([p["val_idx"], p["test_idx"]]):
        np.testing.assert_allclose(means[i], truth["colors"][p["class_names"][p["y"][i]]], atol=4)
    assert [
        f.name for f in tmp_path.iterdir() if f.name.startswith(".")
    ] == []  # no pixel scratch file

    single = tmp_path / "imagenet_single.npz"
    prepare_imagenet(manifest, single, size=8, workers=1)
    np.testing.assert_array_equal(load(single)["X"], p["X"])


@pytest.mark.slow
def test_snakemake_rules_download_and_prepare(tmp_path):
    """The workflow's own rules, on file:// copies of tiny archives (one of each kind of source)."""
    for item in ("Snakefile", "workflow", "config", "envs"):
        source = REPO / item
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tmp_path / item)
    served = tmp_path / "served"
    served.mkdir()
    archives = {  # an archive with a published md5 (overridden), an unpinned UCI zip
        "tiny_imagenet": make_tiny_imagenet(served)[0],
        "uci_abalone": make_uci(served, "abalone")[0],
    }
    data = {
        "urls": {name: path.as_uri() for name, path in archives.items()},
        "md5": {name: md5(path) for name, path in archives.items() if SOURCES[name].md5},
    }
    (tmp_path / "test_data.yaml").write_text(yaml.safe_dump({"data": data}))
    targets = [f"resources/prepared/{d}.npz" for d in ("tiny_imagenet", "abalone", "digits")]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            *targets,
            "--cores",
            "2",
            "--configfile",
            "config/config.yaml",  # the default's experiments, with the test's data section over it
            "test_data.yaml",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for target in targets:
        assert load(tmp_path / target)["X"].shape[0] > 0
    assert load(tmp_path / "resources/prepared/tiny_imagenet.npz")["X"].shape == (24, 3, 64, 64)
    digest = hashlib.sha256(archives["uci_abalone"].read_bytes()).hexdigest()
    record = SOURCES["uci_abalone"].record(tmp_path / "resources/raw")
    assert record.read_text() == f"{digest}  abalone.zip\n"
    log = (tmp_path / "logs/data/download_uci_abalone.log").read_text()
    assert f"uci_abalone: {digest}" in log  # says how to pin it


def test_prepare_inputs_and_options_follow_the_download_outputs():
    assert set(PAPER_DATASETS) == {
        "cifar10",
        "cifar100",
        "svhn",
        "tiny_imagenet",
        "imagenet",
        "bioconcentration",
        "weather",
        "facebook",
        "abalone",
    }
    assert prepare_inputs("svhn") == [
        SOURCES["svhn_train"].outputs()["file"],
        SOURCES["svhn_test"].outputs()["file"],
    ]
    assert prepare_inputs("cifar10") == ["resources/raw/cifar10/extracted"]
    assert prepare_inputs("weather") == [SOURCES["uci_weather"].outputs()["extracted"]]
    assert prepare_inputs("imagenet") == ["resources/manifests/imagenet.tsv"]
    assert prepare_options("cifar100", data_section(cifar_validation="random")) == {
        "cifar_validation": "random",
        "cifar_validation_seed": 0,
    }
    assert prepare_options("imagenet", data_section()) == {"imagenet_size": 64}
    assert prepare_options("abalone", data_section(imagenet_size=32)) == {}


def data_section(**data) -> dict:
    """The config's ``data`` section with the schema's defaults filled in."""
    config = yaml.safe_load((Path(__file__).parent / "configs" / "tiny.yaml").read_text())
    return validate({**config, "data": data})["data"]


def test_ci_fixture_set_prepares_every_downloadable_dataset(tmp_path):
    """make_all_sources (used by CI configs) + the config overrides + every prepare function."""
    data = make_all_sources(tmp_path / "served")
    for name in SOURCES:
        fetch(configured_source(name, data), tmp_path / "raw")
    for dataset in PAPER_DATASETS:
        if dataset == "imagenet":
            continue
        inputs = [str(tmp_path / Path(p).relative_to("resources")) for p in prepare_inputs(dataset)]
        out = tmp_path / "prepared" / f"{dataset}.npz"
        prepare_paper_dataset(dataset, inputs, out, prepare_options(dataset, data_section(**data)))
        assert load_dataset(out, [0.6, 0.2, 0.2], split_seed=0).train.x.shape[0] > 0


def test_mnist1d_is_generated_offline_with_a_fixed_split(tmp_path, monkeypatch):
    """The package's standard set (5,000 × 40, 4,000 train / 1,000 test) from its generator, never
    its download path; the first 800 training sequences validate for every seed."""
    import mnist1d.data

    from collusion.data.offline import MNIST1D_VALIDATION, prepare_offline
    from collusion.data.prepared import load_dataset

    def no_download(*args, **kwargs):
        raise AssertionError("get_dataset (the download path) must not be called")

    monkeypatch.setattr(mnist1d.data, "get_dataset", no_download)
    out = tmp_path / "mnist1d.npz"
    prepare_offline("mnist1d", out)
    reference = mnist1d.data.make_dataset(mnist1d.data.get_dataset_args())
    with np.load(out) as prepared:
        assert prepared["X"].shape == (5000, 1, 40) and prepared["X"].dtype == np.float32
        assert list(prepared["val_idx"]) == list(range(MNIST1D_VALIDATION))
        assert list(prepared["train_idx"]) == list(range(MNIST1D_VALIDATION, 4000))
        assert list(prepared["test_idx"]) == list(range(4000, 5000))
        np.testing.assert_array_equal(
            prepared["X"][4000:, 0], reference["x_test"].astype(np.float32)
        )
        np.testing.assert_array_equal(prepared["y"][:4000], reference["y"])
        assert "'seed': 42" in str(prepared["generator"])
    for seed in (0, 1):  # the split does not depend on the run seed
        data = load_dataset(out, None, seed)
        assert (len(data.train), len(data.val), len(data.test), data.in_shape) == (
            3200,
            800,
            1000,
            (1, 40),
        )
        torch_x = data.normalise(data.val.x)
        np.testing.assert_array_equal(
            torch_x.numpy()[:, 0], reference["x"][:800].astype(np.float32)
        )


def test_mnist1d_draws_are_independent_training_sets_with_one_common_test_set(
    tmp_path, monkeypatch
):
    """Draw k is the standard set generated with seed 1000 + k (its 4,000 training sequences, the
    first 800 validating); every draw is tested on the standard set's test sequences (seed 42).
    The split seed picks the draw; one with no draw is refused, naming the fix."""
    import mnist1d.data

    from collusion.data.offline import MNIST1D_DRAW_SEED, prepare_mnist1d_draws
    from collusion.data.prepared import load_dataset

    def no_download(*args, **kwargs):
        raise AssertionError("get_dataset (the download path) must not be called")

    monkeypatch.setattr(mnist1d.data, "get_dataset", no_download)
    out = tmp_path / "draws.npz"
    generator = prepare_mnist1d_draws(out, draws=2)
    assert generator["draw_seeds"] == [MNIST1D_DRAW_SEED, MNIST1D_DRAW_SEED + 1] != [42, 43]
    standard = mnist1d.data.make_dataset(mnist1d.data.get_dataset_args())
    loaded = [load_dataset(out, None, seed) for seed in (0, 1)]
    for k, data in enumerate(loaded):
        args = mnist1d.data.get_dataset_args()
        args.seed = MNIST1D_DRAW_SEED + k
        draw = mnist1d.data.make_dataset(args)
        assert (len(data.train), len(data.val), len(data.test), data.in_shape) == (
            3200,
            800,
            1000,
            (1, 40),
        )
        for part, expected_x, expected_y in (
            (data.val, draw["x"][:800], draw["y"][:800]),
            (data.train, draw["x"][800:], draw["y"][800:]),
            (data.test, standard["x_test"], standard["y_test"]),
        ):
            np.testing.assert_array_equal(
                data.normalise(part.x).numpy()[:, 0], expected_x.astype(np.float32)
            )
            np.testing.assert_array_equal(part.y.numpy(), expected_y)
    assert not np.array_equal(loaded[0].train.x.numpy(), loaded[1].train.x.numpy())
    with pytest.raises(
        ValueError, match="holds 2 independently drawn training sets .* use seeds below 2"
    ):
        load_dataset(out, None, 2)


def test_failed_prepared_write_leaves_nothing(tmp_path, monkeypatch):
    """A write that fails midway leaves neither the output nor a temporary file (the old fixed
    temporary name `<name>.tmp.npz` survived a failure and was shared by concurrent writers)."""
    from collusion.data import prepared

    def failing_savez(file, **arrays):
        Path(file).write_bytes(b"partial")
        raise RuntimeError("killed while writing")

    monkeypatch.setattr(prepared.np, "savez", failing_savez)
    with pytest.raises(RuntimeError, match="killed"):
        prepared.save_prepared(
            tmp_path / "d.npz", X=np.zeros((2, 1)), y=np.zeros(2), task="regression", n_classes=0
        )
    assert list(tmp_path.iterdir()) == []
