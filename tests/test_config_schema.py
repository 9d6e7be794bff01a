"""The schema states what the code defines: its enums are the code's constants, its recipe defaults
the ``Recipe`` dataclass's, its data defaults those of the prepare functions. The code is the
truth; a change on either side alone fails here."""

import dataclasses
import inspect

import pytest
import yaml

from collusion import objective
from collusion.config_errors import SCHEMA, ConfigError, load_config, validate
from collusion.data.augment import AUGMENTATIONS
from collusion.data.imagenet import prepare_imagenet
from collusion.data.paper_datasets import PREPARE_OPTIONS, prepare_cifar
from collusion.data.sources import SOURCES
from collusion.ensemble import EXECUTIONS
from collusion.figures import common as figure_common
from collusion.spec import SELECTIONS, Recipe
from collusion.train import make_optimizer, make_scheduler
from pipeline_helpers import REPO, TINY

SCHEMA_DOC = yaml.safe_load(SCHEMA.read_text())
RECIPE = SCHEMA_DOC["$defs"]["recipe"]
EXPERIMENT = SCHEMA_DOC["$defs"]["experiment"]["properties"]
DATA = SCHEMA_DOC["properties"]["data"]["properties"]


def test_the_library_reads_this_checkouts_schema():
    assert SCHEMA == REPO / "src" / "collusion" / "config.schema.yaml"


def test_enums_are_the_code_constants():
    assert EXPERIMENT["aggregations"]["items"]["enum"] == list(objective.AGGREGATIONS)
    assert RECIPE["properties"]["augment"]["enum"] == list(AUGMENTATIONS)
    assert RECIPE["properties"]["execution"]["enum"] == list(EXECUTIONS)
    assert SCHEMA_DOC["$defs"]["data_source"]["enum"] == list(SOURCES)
    selections = SCHEMA_DOC["properties"]["analysis"]["properties"]["selections"]
    assert selections["items"]["pattern"] == f"^({'|'.join(SELECTIONS)})(@[1-9][0-9]*)?$"
    assert list(SELECTIONS) == list(figure_common.SELECTIONS)
    assert selections["default"] == list(SELECTIONS)


@pytest.mark.parametrize(
    "key, build", [("optimizer", make_optimizer), ("schedule", make_scheduler)]
)
def test_optimizer_and_schedule_enums_are_what_training_builds(key, build):
    """Each allowed value builds; any other is refused, naming exactly the schema's values."""
    import torch

    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=0.1)
    target = (
        (lambda recipe: build([parameter], recipe))
        if key == "optimizer"
        else (lambda recipe: build(optimizer, recipe))
    )
    allowed = RECIPE["properties"][key]["enum"]
    for value in allowed:
        target(dataclasses.replace(Recipe(epochs=1, lr=0.1), **{key: value}))
    with pytest.raises(ValueError) as error:
        target(dataclasses.replace(Recipe(epochs=1, lr=0.1), **{key: "nonesuch"}))
    assert str(error.value).endswith(f"allowed: {', '.join(allowed)}")


def test_recipe_keys_and_defaults_are_the_dataclass():
    fields = {f.name: f for f in dataclasses.fields(Recipe)}
    assert set(RECIPE["properties"]) == set(fields)
    required = {
        name
        for name, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    assert set(RECIPE["required"]) == required
    for name, f in fields.items():
        if name in required:
            assert "default" not in RECIPE["properties"][name], name
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        assert RECIPE["properties"][name]["default"] == default, name


def test_data_defaults_are_the_prepare_functions():
    functions = {"cifar10": prepare_cifar, "cifar100": prepare_cifar, "imagenet": prepare_imagenet}
    for dataset, options in PREPARE_OPTIONS.items():
        parameters = inspect.signature(functions[dataset]).parameters
        for key, argument in options.items():
            assert DATA[key]["default"] == parameters[argument].default, key


def test_validation_fills_every_default():
    config = load_config(TINY)
    diabetes = config["experiments"]["diabetes"]
    assert diabetes["split"] == {"fractions": [0.6, 0.15, 0.25], "seed": "run", "fixed": True}
    assert config["recipes"]["tiny_images"]["schedule"] == "multistep"
    assert (
        config["analysis"]["learner_dropout"]["subsets"] == 5
        and config["analysis"]["significance"] == 0.05
    )
    assert config["data"]["imagenet_size"] == 64 and config["keep_checkpoints"] is True
    # a default is a fresh copy: filling two configs shares no list
    other = load_config(TINY)
    other["experiments"]["diabetes"]["split"]["fractions"].append(0)
    assert diabetes["split"]["fractions"] == [0.6, 0.15, 0.25]


def test_a_renamed_key_fails_naming_the_new_one():
    config = yaml.safe_load(TINY.read_text())
    config["analysis"]["dropout"] = config["analysis"].pop("learner_dropout")
    with pytest.raises(
        ConfigError, match=r"^analysis\.dropout has been renamed analysis\.learner_dropout: rename"
    ):
        validate(config)


def test_a_schema_error_is_a_config_error_of_a_few_lines():
    config = yaml.safe_load(TINY.read_text())
    config["recipes"]["tiny_images"]["optimizer"] = "lion"
    with pytest.raises(ConfigError) as error:
        validate(config)
    lines = str(error.value).splitlines()
    assert lines[0].startswith("recipes.tiny_images.optimizer: 'lion' is not one of")
    assert "  allowed: 'sgd', 'adam'" in lines and len(lines) == 3
