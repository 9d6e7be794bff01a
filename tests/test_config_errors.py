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
    "misspelt model option": (
        lambda c: c["models"]["mlp"].update(hiden=[16]),
        ["models.mlp", "'hiden' is not an option of mlp", "did you mean 'hidden'"],
    ),
    "model option of the wrong type": (
        lambda c: c["models"]["cnn"].update(hidden="16"),
        ["models.cnn", "hidden: '16' (str) is not an integer"],
    ),
    "infinite beta": (
        lambda c: c["experiments"]["beta_above_one"].update(betas=[float("inf")]),
        ["experiments.beta_above_one.betas", "finite", "got inf"],
    ),
    "renamed key": (
        lambda c: c["analysis"].update(dropout=c["analysis"].pop("learner_dropout")),
        ["analysis.dropout has been renamed analysis.learner_dropout"],
    ),
    "split that leaves a part empty": (
        lambda c: c["experiments"]["diabetes"].update(split={"fractions": [0.998, 0.001, 0.001]}),
        ["experiments.diabetes.split.fractions", "442 examples", "val part empty"],
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
    assert "Failed validating" not in output, "the schema is printed:\n" + output[-3000:]
    assert not (workdir / "results").exists()


def fails_at_start(workdir, name, text):
    path = workdir / name
    path.write_text(text)
    result = snakemake(workdir, "-n", "--cores", "1", "--configfile", str(path), timeout=120)
    assert result.returncode != 0
    assert not (workdir / "results").exists()
    return result.stdout + result.stderr


def test_schema_error_is_a_few_lines_with_the_yaml11_hint(workdir):
    text = TINY.read_text().replace(
        "tiny_images: {optimizer: adam, lr: 0.003,", "tiny_images: {optimizer: adam, lr: 3e-3,"
    )
    output = fails_at_start(workdir, "yaml11.yaml", text)
    message = output[output.index("config error:") :].splitlines()
    assert message[0] == "config error: recipes.tiny_images.lr: '3e-3' is not of type 'number'"
    assert "  value: '3e-3'" in message and "  allowed: number" in message
    assert any("write 3.0e-3" in line for line in message), output
    assert "Failed validating" not in output and "$defs" not in output


def test_duplicate_yaml_key_is_rejected_naming_key_and_file(workdir):
    text = TINY.read_text().replace(
        "recipes:\n",
        "recipes:\n  tiny_tabular: {optimizer: sgd, lr: 0.1, batch_size: 8, epochs: 1}\n",
    )
    output = fails_at_start(workdir, "duplicate.yaml", text)
    assert "duplicate.yaml: key 'tiny_tabular' appears twice" in output, output[-3000:]


def test_numbers_of_any_spelling_get_paths_the_wildcards_accept(workdir):
    """β = 1e-05 and 1e6, seed 0.0 and M 3.0 used to plan paths (beta1e-05, seed0.0, M3.0) that no
    rule could make: MissingInputException."""
    config = broken(
        lambda c: c["experiments"]["diabetes"].update(
            betas=[0, 1.0e-5, 1.0e6, 1], seeds=[0.0], ensemble_sizes=[3.0]
        )
    )
    path = workdir / "grid.yaml"
    path.write_text(yaml.safe_dump(config))
    result = snakemake(
        workdir,
        "results/tables/diabetes/runs.csv",
        "results/tables/divergence.csv",
        "-n",
        "--cores",
        "1",
        "--configfile",
        str(path),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for run in ("M3/beta0/seed0", "M3/beta0.00001/seed0", "M3/beta1000000/seed0", "M3/beta1/seed0"):
        path = f"results/runs/diabetes/diabetes/mlp_narrow/regression/{run}/history.csv"
        assert path in result.stdout + result.stderr, result.stderr[-3000:]


def test_tiny_config_is_valid(workdir):
    result = snakemake(workdir, "-n", "--cores", "1", "--configfile", str(TINY), timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
