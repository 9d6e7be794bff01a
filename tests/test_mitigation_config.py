"""A mitigation experiment and its baseline: what check_config accepts and what it refuses, with
a message naming the key and the fix."""

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml

from collusion import checks, pipeline
from collusion.config_errors import validate
from collusion.spec import MITIGATION_KEYS, Recipe

OPEN_QUESTIONS = yaml.safe_load(
    (Path(__file__).parents[1] / "config" / "open_questions.yaml").read_text()
)
MITIGATED = [name for name, exp in OPEN_QUESTIONS["experiments"].items() if "baseline" in exp]


def config(edit=lambda c: None):
    c = copy.deepcopy(OPEN_QUESTIONS)
    edit(c)
    validate(c)  # the schema's defaults filled, as the workflow sees a configuration
    pipeline.normalise_grid(c)
    return c


def test_the_mitigation_keys_are_recipe_fields_that_default_to_off():
    defaults = {f.name: f.default for f in dataclasses.fields(Recipe)}
    assert all(defaults[key] == 0 for key in MITIGATION_KEYS)


def test_open_questions_pairs_every_mitigation_with_its_baseline():
    c = config()
    checks.check_config(c)
    assert pipeline.mitigation_baselines(c) == {name: "mitigation_base" for name in MITIGATED}
    assert len(MITIGATED) == len(MITIGATION_KEYS)  # one experiment per mitigation


BAD = {
    "GNCL under summed logits": (
        lambda c: c["experiments"]["gncl"].update(aggregations=["sum"]),
        [
            "experiments.gncl",
            "gncl needs a loss of the averaged raw outputs",
            "'sum'",
            "set gncl: false",
        ],
    ),
    "GNCL with learner dropout": (
        lambda c: c["recipes"]["mnist1d_gncl"].update(learner_dropout=0.5),
        ["experiments.gncl", "gncl replaces L_β", "set learner_dropout: 0 or gncl: false"],
    ),
    "GNCL as a number": (
        lambda c: c["recipes"]["mnist1d_gncl"].update(gncl=1.0),
        ["recipes.mnist1d_gncl.gncl"],
    ),
    "penalty under probability averaging": (
        lambda c: c["experiments"]["debiasing_penalty"].update(aggregations=["probability"]),
        [
            "experiments.debiasing_penalty",
            "debiasing_penalty needs an ensemble that averages raw outputs",
            "'probability'",
            "set debiasing_penalty: 0",
        ],
    ),
    "unknown baseline": (
        lambda c: c["experiments"]["learner_dropout"].update(baseline="nope"),
        ["experiments.learner_dropout.baseline", "'nope'", "defined:", "mitigation_base"],
    ),
    "baseline without a mitigation": (
        lambda c: c["experiments"]["mitigation_base"].update(baseline="learner_dropout"),
        ["experiments.mitigation_base.baseline", "no mitigation on", "drop baseline"],
    ),
    "mitigated baseline": (
        lambda c: c["experiments"]["learner_dropout"].update(baseline="beta_warmup"),
        ["experiments.learner_dropout.baseline", "'beta_warmup' is mitigated itself"],
    ),
    "recipes differing in more than the mitigation": (
        lambda c: c["recipes"]["mnist1d_beta_warmup"].update(lr=0.02),
        ["experiments.beta_warmup.baseline", "differ in the mitigation options only", "lr"],
    ),
    "a seed the baseline lacks": (
        lambda c: c["experiments"]["learner_dropout"].update(seeds=[0, 10]),
        ["experiments.learner_dropout.baseline", "seeds [10]", "unmitigated partner"],
    ),
    "a beta the baseline lacks": (
        lambda c: c["experiments"]["mitigation_base"].update(betas=[0, 1]),
        ["experiments.learner_dropout.baseline", "lacks β = 0.5"],
    ),
    "a baseline without beta 0": (
        lambda c: c["experiments"]["mitigation_base"].update(betas=[0.5, 1]),
        ["experiments.learner_dropout.baseline", "lacks β = 0"],
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_mitigation_experiment_is_refused_naming_the_key(case):
    edit, fragments = BAD[case]
    with pytest.raises(checks.ConfigError) as error:
        checks.check_config(config(edit))
    for fragment in fragments:
        assert fragment in str(error.value), (fragment, str(error.value))
