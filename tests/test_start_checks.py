"""Run path labels (β, M, seed) and model options checked against the constructors."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import yaml

from collusion.models import ARCHITECTURES, check_options, constructor, option_types
from collusion.pipeline import (
    LABEL_PATTERNS,
    Run,
    beta_label,
    count_label,
    parse_run_dir,
    run_from_wildcards,
)
from pipeline_helpers import REPO

BETAS = [0.0, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 1e-5, 2.5e-8, 1e6, 1e22, 1 / 3, 0.1 + 0.2]


@pytest.mark.parametrize("beta", BETAS)
def test_beta_label_is_a_plain_decimal_that_reads_back_exactly(beta):
    label = beta_label(beta)
    assert re.fullmatch(LABEL_PATTERNS["beta"], label), label
    assert float(label) == beta


def test_beta_labels_of_usual_values_are_unchanged():
    """Run directories written before labels became exact keep their names."""
    assert [beta_label(b) for b in (0, 0.1, 0.25, 1, 1.5, 2)] == [
        "0",
        "0.1",
        "0.25",
        "1",
        "1.5",
        "2",
    ]
    assert (
        beta_label(1e-5) == "0.00001" and beta_label(1e6) == "1000000" and beta_label(-0.0) == "0"
    )


@pytest.mark.parametrize("beta", [float("inf"), float("nan"), -1.0])
def test_beta_without_a_label_is_refused(beta):
    with pytest.raises(ValueError, match="finite number ≥ 0"):
        beta_label(beta)


def test_counts_are_whole_numbers():
    assert count_label(3.0) == "3" and count_label(0) == "0"
    for bad in (2.5, True, -1):
        with pytest.raises(ValueError, match="whole number"):
            count_label(bad)


@pytest.mark.parametrize("beta", BETAS)
def test_run_dir_wildcards_and_parse_agree(beta):
    run = Run("exp", "diabetes", "mlp", "regression", 3.0, beta, 0.0)
    *_, members, beta_part, seed = run.dir.split("/")
    assert (members, seed) == ("M3", "seed0")
    wildcards = SimpleNamespace(
        experiment="exp",
        dataset="diabetes",
        model="mlp",
        aggregation="regression",
        members=members[1:],
        beta=beta_part[4:],
        seed=seed[4:],
    )
    assert run_from_wildcards(wildcards) == run == parse_run_dir(run.dir)
    assert parse_run_dir(run.dir).dir == run.dir


def test_parse_run_dir_refuses_a_foreign_layout():
    with pytest.raises(ValueError, match="beta label '1e-05'"):
        parse_run_dir("results/runs/exp/diabetes/mlp/regression/M3/beta1e-05/seed0")


OPTION_CASES = [
    ("mlp", {"hidden": "16"}, "hidden: '16' (str) is not a list of integers"),
    ("mlp", {"hidden": [16, 8.5]}, "is not a list of integers"),
    ("mlp", {"hiden": [16]}, "'hiden' is not an option of mlp; did you mean 'hidden'?"),
    ("cnn", {"dropout": "0.1"}, "dropout: '0.1' (str) is not a number"),
    ("cnn", {"kernel_size": True}, "kernel_size: True (bool) is not an integer"),
    ("vgg16_bn", {"dropout": 1}, "dropout: 1 (int) is not true or false"),
    ("vit", {"patch_size": "8"}, "patch_size: '8' (str) is not an integer or a list of integers"),
    ("tv_resnet18", {"width": 8}, "allowed: none (tv_resnet18 takes no options)"),
]


@pytest.mark.parametrize("arch, options, message", OPTION_CASES)
def test_bad_model_options_are_named(arch, options, message):
    with pytest.raises(ValueError) as error:
        check_options(arch, options)
    assert message in str(error.value)


@pytest.mark.parametrize(
    "arch, options",
    [
        ("mlp", {"hidden": [8, 8]}),
        ("cnn", {"dropout": 0, "hidden": 16}),
        ("vgg16_bn", {"hidden": None}),
        ("vit", {"patch_size": [4, 8]}),
        ("tv_resnet18", {}),
    ],
)
def test_good_model_options_pass(arch, options):
    check_options(arch, options)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_constructor_default_fits_its_own_annotation(arch):
    import inspect

    parameters = inspect.signature(constructor(arch)).parameters
    defaults = {name: p.default for name, p in parameters.items() if name in option_types(arch)}
    check_options(arch, defaults)


@pytest.mark.parametrize(
    "name", ["config/config.yaml", "config/paper.yaml", "tests/configs/tiny.yaml"]
)
def test_shipped_configs_model_options_pass(name):
    models = yaml.safe_load((REPO / name).read_text())["models"]
    for model in models.values():
        options = dict(model)
        check_options(options.pop("arch"), options)


def test_declared_row_counts_are_those_of_the_offline_datasets():
    """DATASET_ROWS lets the config check refuse empty splits before the data exists; for the
    datasets bundled with scikit-learn it is checked here (the UCI counts follow collusion.data.uci)."""
    import sklearn.datasets as sk

    from collusion.data.catalog import DATASET_ROWS

    for name in ("digits", "diabetes", "breast_cancer", "wine"):
        assert len(getattr(sk, f"load_{name}")().target) == DATASET_ROWS[name], name


def test_random_split_refuses_an_empty_part():
    from collusion.data.prepared import random_split

    with pytest.raises(
        ValueError, match="parts of 441, 0 and 1 examples: each part needs at least one"
    ):
        random_split(442, [0.998, 0.001, 0.001], seed=0)
    assert [len(part) for part in random_split(442, [0.6, 0.15, 0.25], seed=0)] == [265, 66, 111]


def test_draws_dataset_needs_a_draw_per_seed_and_its_fixed_split():
    """mnist1d_draws: seed k trains on draw k (split.seed: run), so every seed needs a draw."""
    from collusion.checks import ConfigError, check_config
    from collusion.data.catalog import DATASET_DRAWS

    draws = DATASET_DRAWS["mnist1d_draws"]
    wood = {"dataset": "mnist1d_draws", "aggregations": ["score"]}
    check_config(tiny_config(**wood, seeds=list(range(draws))))
    with pytest.raises(
        ConfigError,
        match=rf"experiments.diabetes.seeds: mnist1d_draws holds {draws} training sets .* "
        rf"\[{draws}\] name no draw: use seeds below {draws}",
    ):
        check_config(tiny_config(**wood, seeds=[0, draws]))
    with pytest.raises(ConfigError, match=r"experiments.diabetes.split.seed: .* \[99\] name no"):
        check_config(tiny_config(**wood, split={"seed": 99}))
    with pytest.raises(ConfigError, match=r"split.fixed: false .* set split.fixed: true"):
        check_config(tiny_config(**wood, split={"fixed": False}))


def raw_tiny_config(**diabetes):
    config = yaml.safe_load((REPO / "tests/configs/tiny.yaml").read_text())
    config["experiments"]["diabetes"].update(diabetes)
    return config


def tiny_config(**diabetes):
    """The tiny configuration with the schema's defaults filled (check_config reads a validated one)."""
    from collusion.config_errors import validate

    return validate(raw_tiny_config(**diabetes))


def test_whole_numbers_are_normalised_and_long_beta_labels_refused():
    from collusion.checks import ConfigError, check_config
    from collusion.pipeline import normalise_grid

    config = tiny_config(seeds=[0.0, 1], ensemble_sizes=[3.0], betas=[0, 1])
    normalise_grid(config)
    exp = config["experiments"]["diabetes"]
    assert exp["seeds"] == [0, 1] and all(
        type(s) is int for s in exp["seeds"] + exp["ensemble_sizes"]
    )
    assert all(type(b) is float for b in exp["betas"])
    check_config(config)
    with pytest.raises(
        ConfigError, match=r"experiments.diabetes.betas: β = 1e-50 would be written 0.0+1 .*over 40"
    ):
        check_config(tiny_config(betas=[0, 1e-50]))


@pytest.mark.parametrize(
    "text, spelled",
    [("3e-3", "3.0e-3"), ("1e6", "1.0e+6"), ("2.5E3", "2.5e+3"), ("1.e5", "1.0e+5")],
)
def test_yaml11_number_spelling_reads_back_as_the_number(text, spelled):
    from collusion.config_errors import yaml11_number

    assert yaml.safe_load(text) == text  # YAML 1.1: a string
    assert yaml11_number(text) == spelled and yaml.safe_load(spelled) == float(text)
    assert yaml11_number("16") is None and yaml11_number("big") is None


def test_schema_message_lists_the_allowed_values():
    import jsonschema

    from collusion.config_errors import schema_message

    schema = yaml.safe_load((REPO / "src/collusion/config.schema.yaml").read_text())
    config = raw_tiny_config(aggregations=["mean"])
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(config)
    )
    assert schema_message(error).splitlines() == [
        "experiments.diabetes.aggregations.0: 'mean' is not one of "
        "['score', 'probability', 'probability_double_softmax', 'sum', 'regression']",
        "  value: 'mean'",
        "  allowed: 'score', 'probability', 'probability_double_softmax', 'sum', 'regression'",
    ]
