"""Your own model and your own data from the configuration (issue 24): every mistake refused at
start, naming the key, the file and the fix; what passes trains like the built-ins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from collusion import models
from collusion.checks import ConfigError
from collusion.config_errors import load_config
from collusion.data.own import prepare_own
from collusion.data.prepared import load_dataset, source_of
from collusion.fingerprint import training_files
from collusion.job import train
from collusion.models import ArchitectureWarning, build_model, check_forward
from collusion.pipeline import experiment_runs
from collusion.plan import run_job

OWN_MODELS = '''
import torch.nn as nn


class Net(nn.Module):
    """A class constructor: options after in_shape and out_dim."""

    def __init__(self, in_shape, out_dim, width: int = 4):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(in_shape[0], width), nn.ReLU(),
                                  nn.Linear(width, out_dim))

    def forward(self, x):
        return self.body(x)


def loose(in_shape, out_dim, width: int = 4, **options):
    return nn.Linear(in_shape[0], out_dim)


def flat(in_shape, out_dim):
    """Returns (N,) instead of (N, 1): trains, then breaks every analysis."""
    return nn.Sequential(nn.Linear(in_shape[0], 1), nn.Flatten(0))


def no_shapes(width: int = 4):
    return nn.Linear(width, 1)
'''


def write_config(folder: Path, models_=None, datasets=None, dataset="diabetes", **experiment):
    """A small configuration in ``folder`` (one experiment ``e`` of the model ``m``)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "own_models.py").write_text(OWN_MODELS)
    config = {
        "experiments": {
            "e": {
                "dataset": dataset,
                "models": ["m"],
                "aggregations": ["regression"],
                "ensemble_sizes": [2],
                "betas": [0, 1],
                "seeds": [0],
                "recipe": "r",
                **experiment,
            }
        },
        "models": {"m": {"arch": "mlp", "hidden": [4]}, **(models_ or {})},
        "datasets": datasets or {},
        "recipes": {"r": {"lr": 0.01, "epochs": 1, "batch_size": 16}},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def refused(path: Path, match: str) -> str:
    with pytest.raises(ConfigError, match=match) as error:
        load_config(path)
    return str(error.value)


# -- 1. bad model input ----------------------------------------------------------------------------
@pytest.mark.parametrize("hidden", [[0], [8, -8]])
def test_a_width_below_one_is_refused_at_start(tmp_path, hidden):
    path = write_config(tmp_path, {"m": {"arch": "mlp", "hidden": hidden}})
    message = refused(path, r"models\.m: hidden: .* has a size below 1")
    assert "at least 1" in message


def test_a_constructor_taking_options_warns_of_those_it_does_not_name(tmp_path):
    arch = "own_models.py:loose"
    path = write_config(tmp_path, {"m": {"arch": arch, "width": 3, "depht": 2}})
    with pytest.warns(ArchitectureWarning, match=r"models\.m: .*takes \*\*options: .*depht") as w:
        load_config(path)
    assert "width," not in str(w[0].message).split("its options")[1].split("are not")[0]


def test_a_learner_returning_n_instead_of_n_by_one_is_refused_by_the_forward_check():
    models.register(
        "test_only_flat",
        lambda in_shape, out_dim: torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0)),
    )
    try:
        with pytest.raises(ValueError, match=r"model m .* to \(2,\);.*\(N, 1\)"):
            check_forward("test_only_flat", {}, torch.randn(2, 3), 1, "model m")
        with pytest.raises(ValueError, match=r"model m .*fails on a batch of shape \(2, 4\)"):
            check_forward("test_only_flat", {}, torch.randn(2, 4), 1, "model m")
    finally:
        del models.ARCHITECTURES["test_only_flat"]


def test_the_training_job_checks_the_learner_on_the_data_before_it_trains(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = np.random.default_rng(0).normal(size=(40, 3))
    np.savez(tmp_path / "own.npz", X=rows, y=rows.sum(axis=1))
    datasets = {"own": {"file": "own.npz", "task": "regression"}}
    path = write_config(tmp_path, {"m": {"arch": "own_models.py:flat"}}, datasets, dataset="own")
    config = load_config(path)
    (run,) = [r for r in experiment_runs(config, "e") if r.beta == 0]
    prepare_own("own", config["datasets"]["own"], f"resources/prepared/{run.dataset}.npz")
    with pytest.raises(ValueError, match=r"the learner of .*/m/.*to \(2,\).*\(N, 1\)"):
        train(run_job(config, run))
    assert not Path(run.dir).exists() or not any(Path(run.dir).iterdir())


# -- 2. your own architecture ----------------------------------------------------------------------
def test_an_own_file_beside_the_configuration_is_found_and_built(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_config(tmp_path / "configs", {"m": {"arch": "own_models.py:Net", "width": 3}})
    config = load_config(path)
    arch = config["models"]["m"]["arch"]
    assert arch == "configs/own_models.py:Net"  # relative to the working directory
    model = build_model(arch, (5,), 2, width=3)
    assert model(torch.randn(4, 5)).shape == (4, 2)
    assert (tmp_path / "configs" / "own_models.py").resolve() in training_files(arch)
    assert load_config(path)["models"]["m"]["arch"] == arch  # checking twice changes nothing


def test_an_own_files_fingerprint_covers_the_modules_of_your_own_it_imports(tmp_path):
    """Editing a helper module that the learner's file imports retrains its runs (before, only the
    constructor's file was in the fingerprint: runs trained before the edit were kept)."""
    from collusion.fingerprint import training_fingerprint

    (tmp_path / "blocks").mkdir()
    (tmp_path / "blocks" / "__init__.py").write_text("from .layers import Layer\n")
    (tmp_path / "blocks" / "layers.py").write_text("import torch.nn as nn\nLayer = nn.Linear\n")
    (tmp_path / "helpers.py").write_text("WIDTH = 4\n")
    (tmp_path / "unused.py").write_text("X = 1\n")
    (tmp_path / "net.py").write_text(
        "import torch\nimport helpers\nfrom blocks import Layer\n\n\n"
        "def net(in_shape, out_dim):\n    return Layer(in_shape[0], out_dim)\n"
    )
    arch = f"{tmp_path / 'net.py'}:net"
    files = {
        path.relative_to(tmp_path).as_posix()
        for path in training_files(arch)
        if path.is_relative_to(tmp_path)
    }
    assert files == {"net.py", "helpers.py", "blocks/__init__.py", "blocks/layers.py"}
    assert not any("site-packages" in str(path) for path in training_files(arch))  # torch: not
    before = training_fingerprint.__wrapped__(arch)
    (tmp_path / "blocks" / "layers.py").write_text("import torch.nn as nn\nLayer = nn.Bilinear\n")
    after = training_fingerprint.__wrapped__(arch)
    assert after != before
    (tmp_path / "unused.py").write_text("X = 2\n")  # imported by nobody: changes nothing
    assert training_fingerprint.__wrapped__(arch) == after


def test_an_own_modules_fingerprint_covers_its_packages_modules(tmp_path, monkeypatch):
    from collusion.fingerprint import training_files

    package = tmp_path / "mynets"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "parts.py").write_text("import numpy\nWIDTH = 3\n")
    (package / "wide.py").write_text(
        "import torch.nn as nn\nfrom .parts import WIDTH\n\n\n"
        "def wide(in_shape, out_dim):\n    return nn.Linear(1, 1)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    files = training_files("mynets.wide:wide")
    own = {path.relative_to(tmp_path).as_posix() for path in files if path.is_relative_to(tmp_path)}
    assert own == {"mynets/__init__.py", "mynets/parts.py", "mynets/wide.py"}
    assert not any("site-packages" in str(path) for path in files)  # numpy, torch: not followed


@pytest.mark.parametrize(
    "model, match",
    [
        (
            {"arch": "own_models.py:Net", "widht": 3},
            r"'widht' is not an option .*did you mean 'width'",
        ),
        ({"arch": "own_models.py:Net", "width": "3"}, r"width: '3' \(str\) is not an integer"),
        ({"arch": "own_models.py:Net", "width": 0}, r"width: 0 has a size below 1"),
        (
            {"arch": "own_models.py:Nett"},
            r"defines no function or class 'Nett'.*did you mean 'Net'",
        ),
        ({"arch": "missing.py:Net"}, r"no file missing\.py .*beside the configuration"),
        (
            {"arch": "no_such_package.models:Net"},
            r"module no_such_package\.models cannot be imported",
        ),
        ({"arch": "own_models.py:no_shapes"}, r"takes \(in_shape, out_dim, \*\*options\)"),
        ({"arch": "own_models.py:"}, r"names no constructor"),
    ],
)
def test_mistakes_in_an_own_architecture_are_refused_at_start(tmp_path, model, match):
    message = refused(write_config(tmp_path, {"m": model}), match)
    assert message.startswith("models.m")


def test_an_importable_module_names_an_architecture(tmp_path, monkeypatch):
    package = tmp_path / "site" / "mylearners"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text(OWN_MODELS)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    path = write_config(tmp_path, {"m": {"arch": "mylearners.nets:Net", "width": 2}})
    assert load_config(path)["models"]["m"]["arch"] == "mylearners.nets:Net"
    refused(write_config(tmp_path, {"m": {"arch": "mylearners.nets:Net", "wdth": 2}}), "did you")
    assert build_model("mylearners.nets:Net", (3,), 1, width=2)(torch.randn(2, 3)).shape == (2, 1)


def test_an_architecture_registered_in_the_workflow_process_is_refused(tmp_path):
    """Registered from an outer workflow, it passed the dry run, then failed in the job (another
    process) with 'unknown architecture'."""
    models.register("test_only_registered", lambda in_shape, out_dim: torch.nn.Linear(1, 1))
    try:
        path = write_config(tmp_path, {"m": {"arch": "test_only_registered"}})
        refused(path, r"registered in this process .*'file\.py:Name'")
    finally:
        del models.ARCHITECTURES["test_only_registered"]


# -- 3. your own dataset ---------------------------------------------------------------------------
def csv_text(header: str, rows: list[str]) -> str:
    return "\n".join([header, *rows]) + "\n"


GOOD_ROWS = [f"{i % 5}.0,{i % 3}.5,{i % 2}" for i in range(30)]


@pytest.mark.parametrize(
    "content, spec, match",
    [
        (csv_text("a,b,label", GOOD_ROWS), {}, r"no column 'target'.*columns: a, b, label"),
        (csv_text("a,b,target", [*GOOD_ROWS, "1,x,0"]), {}, r"column 'b', line 32: 'x' is not"),
        (csv_text("a,b,target", [*GOOD_ROWS, "1,,0"]), {}, r"X has missing .* in 1 example"),
        (csv_text("a,b,target", [*GOOD_ROWS, "1,2"]), {}, r"line\(s\) 32 have not 3 fields"),
        (
            csv_text("a,b,target", [r[:-1] + str(int(r[-1]) + 1) for r in GOOD_ROWS]),
            {},
            r"lack \[0\]",
        ),
        (csv_text("a,b,target", [*GOOD_ROWS, "1,2,0.5"]), {}, r"class indices 0..K−1.*0\.5"),
        (csv_text("a,b,target", [*GOOD_ROWS, "1,2,-1"]), {}, r"class indices 0..K−1.*-1"),
        (
            csv_text("a,b,target,part", [r + ",training" for r in GOOD_ROWS]),
            {"split_column": "part"},
            r"column 'part' holds 'training'; allowed: train, val, test",
        ),
    ],
)
def test_a_bad_csv_dataset_is_refused_at_start(tmp_path, content, spec, match):
    (tmp_path / "data.csv").write_text(content)
    datasets = {"mine": {"file": "data.csv", "task": "classification", **spec}}
    path = write_config(tmp_path, datasets=datasets, dataset="mine", aggregations=["score"])
    message = refused(path, match)
    assert message.startswith("datasets.mine.file") and "data.csv" in message


@pytest.mark.parametrize(
    "arrays, match",
    [
        ({"X": np.zeros((10, 2))}, r"lacks the array\(s\) y"),
        ({"X": np.zeros((10, 2)), "y": np.zeros(9)}, r"same N; got X \(10, 2\) and y \(9,\)"),
        ({"X": np.zeros(10), "y": np.zeros(10)}, r"X must be \(N, D\)"),
        ({"X": np.full((10, 2), np.inf), "y": np.zeros(10)}, r"X has missing or infinite"),
        ({"X": np.zeros((10, 2)), "y": np.zeros(10), "train_idx": np.arange(5)}, r"together"),
        (
            {
                "X": np.zeros((10, 2)),
                "y": np.zeros(10),
                **{f"{p}_idx": np.arange(4) for p in ("train", "val", "test")},
            },
            r"overlap",
        ),
    ],
)
def test_a_bad_npz_dataset_is_refused_at_start(tmp_path, arrays, match):
    np.savez(tmp_path / "data.npz", **arrays)
    datasets = {"mine": {"file": "data.npz", "task": "regression"}}
    refused(write_config(tmp_path, datasets=datasets, dataset="mine"), match)


def test_own_dataset_names_tasks_and_splits_are_checked_against_the_experiments(tmp_path):
    (tmp_path / "data.csv").write_text(csv_text("a,b,target", GOOD_ROWS))
    regression = {"mine": {"file": "data.csv", "task": "regression"}}
    refused(
        write_config(tmp_path, datasets=regression, dataset="mine", aggregations=["score"]),
        r"'score' does not fit mine, a regression dataset",
    )
    refused(
        write_config(tmp_path, datasets=regression, dataset="mine_typo"),
        r"unknown dataset 'mine_typo'.*your own defined under datasets: \(mine\)",
    )
    refused(
        write_config(tmp_path, datasets={"wine": regression["mine"]}, dataset="wine"),
        r"datasets\.wine: 'wine' is a built-in dataset",
    )
    refused(
        write_config(
            tmp_path, datasets=regression, dataset="mine", split={"fractions": [0.98, 0.01, 0.01]}
        ),
        r"mine's 30 examples leave the val part empty",
    )


def test_an_own_csv_is_prepared_like_the_builtins_with_its_md5(tmp_path):
    rows = [r + f",{('train', 'val', 'test')[i % 3]}" for i, r in enumerate(GOOD_ROWS)]
    (tmp_path / "data.csv").write_text(csv_text("a,b,target,part", rows))
    spec = {"file": str(tmp_path / "data.csv"), "task": "classification", "target": "target"}
    prepare_own("mine", spec | {"split_column": "part"}, tmp_path / "mine.npz")
    data = load_dataset(tmp_path / "mine.npz", None, 0)
    assert (len(data.train), len(data.val), len(data.test)) == (10, 10, 10)
    assert data.n_classes == 2 and data.in_shape == (2,) and data.train.y.dtype == torch.int64
    import hashlib

    md5 = hashlib.md5((tmp_path / "data.csv").read_bytes()).hexdigest()
    assert source_of(tmp_path / "mine.npz") == {"file": spec["file"], "md5": md5}


def test_the_config_readme_documents_the_datasets_section():
    readme = (Path(__file__).resolve().parents[1] / "config" / "README.md").read_text()
    assert "## `datasets`" in readme and "file.py:Name" in readme


def test_the_claims_scope_says_how_an_own_dataset_is_split(tmp_path):
    """An own dataset is not a built-in with a stored split: without one it is split at random."""
    from collusion.claims_report import split_text

    (tmp_path / "data.csv").write_text(csv_text("a,b,target", GOOD_ROWS))
    exp = {"dataset": "mine", "split": {"fractions": [0.6, 0.2, 0.2], "seed": "run"}}
    spec = {"file": str(tmp_path / "data.csv"), "task": "regression", "split_column": None}
    assert "a random [0.6, 0.2, 0.2]" in split_text(exp, {"mine": spec})
    assert "stored" in split_text(exp, {"mine": spec | {"split_column": "part"}})


def test_figures_and_claims_agree_whether_an_own_dataset_shares_one_test_set(tmp_path):
    """The figures' shares_test_set counted an own .csv without a split column as a stored split
    (one test set for every seed), while the claims' scope said it was split at random per run:
    both read data.own.uses_stored_split now."""
    from collusion.claims_report import split_text
    from collusion.figures import shares_test_set

    rows = [r + f",{('train', 'val', 'test')[i % 3]}" for i, r in enumerate(GOOD_ROWS)]
    (tmp_path / "split.csv").write_text(csv_text("a,b,target,part", rows))
    (tmp_path / "data.csv").write_text(csv_text("a,b,target", GOOD_ROWS))
    for file, split_column, stored in (("data.csv", None, False), ("split.csv", "part", True)):
        spec = {"file": file, "task": "regression", "split_column": split_column}
        datasets = {"mine": spec}
        path = write_config(tmp_path, datasets=datasets, dataset="mine", seeds=[0, 1])
        config = load_config(path)
        exp = config["experiments"]["e"]
        assert shares_test_set(config) is stored
        assert ("stored" in split_text(exp, config["datasets"])) is stored


# -- 4. .parquet files and loaders -----------------------------------------------------------------
def write_parquet(path: Path, columns: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)


PARQUET = {
    "a": [float(i % 5) for i in range(30)],
    "b": list(range(30)),  # integers are numbers too
    "target": [i % 2 for i in range(30)],
}


def test_an_own_parquet_is_prepared_like_a_csv_with_its_split_and_md5(tmp_path):
    parts = [("train", "val", "test")[i % 3] for i in range(30)]
    write_parquet(tmp_path / "data.parquet", PARQUET | {"part": parts})
    datasets = {"mine": {"file": "data.parquet", "task": "classification", "split_column": "part"}}
    config = load_config(
        write_config(tmp_path, datasets=datasets, dataset="mine", aggregations=["score"])
    )
    spec = config["datasets"]["mine"]
    prepare_own("mine", spec, tmp_path / "mine.npz")
    data = load_dataset(tmp_path / "mine.npz", None, 0)
    assert (len(data.train), len(data.val), len(data.test)) == (10, 10, 10)
    assert data.n_classes == 2 and data.in_shape == (2,)
    import hashlib

    md5 = hashlib.md5((tmp_path / "data.parquet").read_bytes()).hexdigest()
    assert source_of(tmp_path / "mine.npz") == {"file": spec["file"], "md5": md5}


@pytest.mark.parametrize(
    "columns, spec, match",
    [
        (PARQUET | {"b": [str(i) for i in range(30)]}, {}, r"column 'b' has type string"),
        (PARQUET | {"a": [None, *PARQUET["a"][1:]]}, {}, r"X has missing .* in 1 example"),
        ({"a": PARQUET["a"], "label": PARQUET["target"]}, {}, r"no column 'target'"),
        (PARQUET | {"part": ["training"] * 30}, {"split_column": "part"}, r"holds 'training'"),
    ],
)
def test_a_bad_parquet_dataset_is_refused_at_start(tmp_path, columns, spec, match):
    write_parquet(tmp_path / "data.parquet", columns)
    datasets = {"mine": {"file": "data.parquet", "task": "classification", **spec}}
    path = write_config(tmp_path, datasets=datasets, dataset="mine", aggregations=["score"])
    assert refused(path, match).startswith("datasets.mine.file")


LOADERS = """
import numpy as np


def load():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    return {"X": X, "y": X.sum(axis=1), "train_idx": np.arange(20), "val_idx": np.arange(20, 25),
            "test_idx": np.arange(25, 30)}


def random_split():
    return {"X": np.ones((30, 2)), "y": np.arange(30.0)}


def lowercase():
    return {"x": np.ones((30, 2)), "y": np.zeros(30)}


def a_list():
    return [np.ones((30, 2)), np.zeros(30)]


def fails():
    raise FileNotFoundError("data.h5")


def half_split():
    return {"X": np.ones((30, 2)), "y": np.zeros(30), "train_idx": np.arange(5)}
"""


def loader_config(tmp_path: Path, loader: str, **spec) -> Path:
    (tmp_path / "configs").mkdir(exist_ok=True)
    (tmp_path / "configs" / "loaders.py").write_text(LOADERS)
    (tmp_path / "configs" / "broken.py").write_text("import no_such_module\n\n\ndef load(): ...\n")
    datasets = {"mine": {"loader": loader, "task": "regression", **spec}}
    return write_config(tmp_path / "configs", datasets=datasets, dataset="mine")


def test_a_loader_beside_the_configuration_gives_a_dataset_with_its_provenance(
    tmp_path, monkeypatch
):
    import hashlib

    from collusion.data.own import arrays_md5, read_own, uses_stored_split

    monkeypatch.chdir(tmp_path)
    config = load_config(loader_config(tmp_path, "loaders.py:load"))
    spec = config["datasets"]["mine"]
    assert spec["loader"] == "configs/loaders.py:load"  # found beside the configuration
    assert uses_stored_split(config["experiments"]["e"], config["datasets"])
    prepare_own("mine", spec, tmp_path / "mine.npz")
    data = load_dataset(tmp_path / "mine.npz", None, 0)
    assert (len(data.train), len(data.val), len(data.test)) == (20, 5, 5)
    md5 = hashlib.md5((tmp_path / "configs" / "loaders.py").read_bytes()).hexdigest()
    assert source_of(tmp_path / "mine.npz") == {
        "file": f"loader configs/loaders.py:load (configs/loaders.py, md5 {md5})",
        "md5": arrays_md5(read_own("mine", spec)),  # the data it returned, as checked
    }
    random = load_config(loader_config(tmp_path, "loaders.py:random_split"))
    assert not uses_stored_split(random["experiments"]["e"], random["datasets"])


@pytest.mark.parametrize(
    "loader, spec, match",
    [
        ("loaders.py:lod", {}, r"defines no function 'lod'; did you mean 'load'"),
        ("missing.py:load", {}, r"no file missing\.py"),
        ("no_such_package.data:load", {}, r"module no_such_package\.data cannot be imported"),
        ("loaders.py:", {}, r"names no function"),
        ("loaders.py:lowercase", {}, r"holds 'x' \(did you mean 'X'\?\)"),
        ("loaders.py:a_list", {}, r"returned a list; a loader returns a mapping"),
        ("loaders.py:fails", {}, r"the loader fails: FileNotFoundError: data\.h5"),
        ("broken.py:load", {}, r"importing .*broken\.py fails: ModuleNotFoundError"),
        ("loaders.py:half_split", {}, r"train_idx, val_idx and test_idx together"),
        ("loaders.py:load", {"split_column": "part"}, r"split_column: for a \.csv or \.parquet"),
        ("loaders.py:load", {"file": "data.csv"}, r"as a file .* or a loader .*one of them"),
    ],
)
def test_mistakes_in_a_loader_are_refused_at_start_naming_it(tmp_path, loader, spec, match):
    message = refused(loader_config(tmp_path, loader, **spec), match)
    assert message.startswith("datasets.mine")


def test_an_own_dataset_marked_gpu_asks_for_a_gpu_per_run_and_prepares_nothing_again(tmp_path):
    """Before, every dataset of your own was CPU-sized: its runs packed several to a job with no GPU
    requested, however large the learner (issue 24's leftover). ``gpu: true`` gives it the
    paper's image datasets' treatment; it is not part of what is prepared."""
    from collusion import costs, plan
    from collusion.data.own import prepare_options

    np.savez(tmp_path / "own.npz", X=np.ones((40, 3)), y=np.arange(40.0))
    specs = {}
    for gpu in (False, True):
        datasets = {"own": {"file": "own.npz", "task": "regression", "gpu": gpu}}
        folder = tmp_path / f"gpu_{gpu}"
        folder.mkdir()
        (folder / "own.npz").write_bytes((tmp_path / "own.npz").read_bytes())
        config = load_config(write_config(folder, datasets=datasets, dataset="own", seeds=[0, 1]))
        (run, *_) = experiment_runs(config, "e")
        assert costs.train_resources(config, run)["gpu"] == int(gpu)
        assert plan.packs_betas(config, "e") is not gpu  # GPU: one job per run
        assert plan.pack_seeds(config, "e") == (1 if gpu else plan.PACK_SEEDS_AUTO)
        spec = config["datasets"]["own"]
        specs[gpu] = {**prepare_options("own", spec), "file": Path(spec["file"]).name}
    assert specs[False] == specs[True]  # marking it gpu reprepares nothing (nor retrains)
    assert "gpu" not in specs[True]
