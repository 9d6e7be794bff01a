"""Bad configurations fail at start with a message naming the key and what is allowed."""

import copy

import pytest
import yaml

from pipeline_helpers import TINY, copy_workflow, snakemake

BASE = yaml.safe_load(TINY.read_text())


def broken(edit):
    config = copy.deepcopy(BASE)
    edit(config)
    return config


CASES = {
    "unknown key": (
        lambda c: c["experiments"]["digits"].update(epochs=3),
        ["Additional properties are not allowed", "epochs"],
    ),
    "wrong type": (
        lambda c: c["recipes"]["tiny_images"].update(batch_size="big"),
        ["batch_size", "not of type 'integer'"],
    ),
    "negative beta": (
        lambda c: c["experiments"]["digits"].update(betas=[0, -0.5]),
        ["betas", "-0.5 is less than the minimum of 0"],
    ),
    "empty seeds": (
        lambda c: c["experiments"]["digits"].update(seeds=[]),
        ["seeds", "should be non-empty"],
    ),
    "unknown dataset": (
        lambda c: c["experiments"]["digits"].update(dataset="mnist"),
        ["experiments.digits.dataset", "'mnist'", "allowed:", "digits"],
    ),
    "unknown architecture": (
        lambda c: c["models"]["mlp"].update(arch="transformer9000"),
        ["models.mlp.arch", "'transformer9000'", "allowed:", "mlp"],
    ),
    "undefined model": (
        lambda c: c["experiments"]["digits"].update(models=["mlp", "resnet"]),
        ["experiments.digits.models", "'resnet'", "defined:"],
    ),
    "aggregation that does not fit the task": (
        lambda c: c["experiments"]["diabetes"].update(aggregations=["score"]),
        ["experiments.diabetes.aggregations", "regression"],
    ),
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("config_errors"))


@pytest.mark.parametrize("case", CASES)
def test_bad_config_fails_at_start_naming_the_key(workdir, case):
    edit, expected = CASES[case]
    path = workdir / f"{case.replace(' ', '_')}.yaml"
    path.write_text(yaml.safe_dump(broken(edit)))
    result = snakemake(workdir, "-n", "--cores", "1", "--configfile", str(path), timeout=120)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for fragment in expected:
        assert fragment in output, f"{fragment!r} missing from:\n{output[-3000:]}"
    assert not (workdir / "results").exists()


def test_tiny_config_is_valid(workdir):
    result = snakemake(workdir, "-n", "--cores", "1", "--configfile", str(TINY), timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
