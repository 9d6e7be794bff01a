"""Outputs per configuration (issue 24): results_root names the folder a configuration writes
under; the default's paths are unchanged. The run of two configurations in one working directory
is tests/test_extending.py's slow test."""

from __future__ import annotations

import copy

import pytest
import yaml

from collusion import root_owner
from collusion.checks import ConfigError
from collusion.config_errors import check
from collusion.figures import source_paths
from collusion.pipeline import experiment_runs, parse_run_dir
from collusion.plan import pack_jobs
from pipeline_helpers import REPO, TINY


def tiny(**top) -> dict:
    return check({**copy.deepcopy(yaml.safe_load(TINY.read_text())), **top})


def test_the_default_root_keeps_every_path():
    config = tiny()
    assert config["results_root"] == "results"
    run = experiment_runs(config, "digits")[0]
    assert run.dir == "results/runs/digits/digits/mlp/score/M3/beta0/seed0"
    assert source_paths("claims", []) == ["results/paper/claims.csv"]


def test_another_root_holds_the_runs_packs_and_tables():
    config = tiny(results_root="results/other")
    run = experiment_runs(config, "digits")[0]
    assert run.dir == "results/other/runs/digits/digits/mlp/score/M3/beta0/seed0"
    assert run.pack_dir.startswith("results/other/runs/digits/")
    read = parse_run_dir(run.dir)
    assert read == run and read.root == "results/other"
    assert source_paths("runs", ["digits"], "results/other") == [
        "results/other/tables/digits/runs.csv"
    ]
    (job,) = pack_jobs(config)  # beta_above_one packs its two β
    assert job.job.parts[0].run_dirs[0].startswith("results/other/runs/")
    assert all(path.startswith("results/other/runs/") for path in job.outputs)


@pytest.mark.parametrize("root", ["/abs/results", "../results", "results/../x", "out/runs", ""])
def test_a_root_outside_the_working_directory_or_with_a_runs_folder_is_refused(root):
    with pytest.raises(ConfigError, match="results_root"):
        tiny(results_root=root)


CONFIGS = sorted((REPO / "config").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_each_shipped_configuration_writes_under_a_root_of_its_own(path):
    """Only the default writes under results/; every other shipped configuration has its own root,
    none inside another's outputs (results/paper/ is the default's figures and tables)."""
    roots = {p.name: yaml.safe_load(p.read_text()).get("results_root", "results") for p in CONFIGS}
    root = roots[path.name]
    if path.name == "config.yaml":
        assert root == "results"
        return
    assert root != "results" and list(roots.values()).count(root) == 1, roots
    assert root.split("/")[:2] != ["results", "paper"]


# -- one configuration per root (collusion.root_owner) ---------------------------------------------
def test_a_root_remembers_its_configuration_and_refuses_another(tmp_path, monkeypatch):
    """Before, a second configuration without its own root wrote over the first's figures; the
    report then showed them under the first's captions."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.yaml").write_text("")
    (tmp_path / "over.yaml").write_text("")
    outside = tmp_path.parent / f"{tmp_path.name}_other.yaml"
    mine = root_owner.configuration_files(["./mine.yaml", "over.yaml"])
    assert mine == ["mine.yaml", "over.yaml"]  # relative inside the working directory
    other = root_owner.configuration_files([outside])
    assert other == [str(outside.resolve())]  # absolute outside it
    root_owner.check("results", mine)  # nothing recorded: any configuration may start
    root_owner.claim("results", mine)
    marker = tmp_path / "results" / root_owner.MARKER
    assert root_owner.recorded("results") == mine
    assert [p.name for p in marker.parent.iterdir()] == [root_owner.MARKER]  # no temporary left
    root_owner.check("results", mine)  # the same files (edited or not)
    root_owner.check("results", ["mine.yaml"])  # without an overlay: the same configuration
    with pytest.raises(ConfigError) as refused:
        root_owner.check("results", other)
    message = str(refused.value)
    for named in ("mine.yaml + over.yaml", str(outside.resolve()), "'results'", str(marker.name)):
        assert named in message, message
    assert f"`results_root: results/{tmp_path.name}_other` in {outside.resolve()}" in message
    root_owner.check("results/other", other)  # its own root: fine
    root_owner.claim("results", mine)  # unchanged: not rewritten
    stamp = marker.stat().st_mtime_ns
    root_owner.claim("results", mine)
    assert marker.stat().st_mtime_ns == stamp


def test_another_root_says_to_delete_its_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root_owner.claim("results/a", ["a.yaml"])
    with pytest.raises(ConfigError, match=r"delete the folder results/a/ if its outputs"):
        root_owner.check("results/a", ["b.yaml"])
