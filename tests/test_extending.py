"""docs/extending.md works as written: its Python blocks run, its configuration passes the start
checks, and (slow) its own learner and own data train through the real Snakefile, run in a folder
of one's own outside the checkout (``-s <checkout>/Snakefile --directory <folder>``)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import re
from pathlib import Path

import pytest
import yaml

from collusion.config_errors import load_config
from collusion.data.own import read_own
from collusion.root_owner import recorded
from pipeline_helpers import REPO, copy_workflow, snakemake

GUIDE = REPO / "docs" / "extending.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(GUIDE.read_text()) if lang == language]


def follow_the_guide(folder: Path) -> Path:
    """Do what the guide says in ``folder``: write its files (a block whose first line is
    ``# <file>``), run its Python blocks in order, there; returns its configuration file."""
    folder.mkdir(parents=True, exist_ok=True)
    for body in blocks("python") + blocks("yaml"):
        first = body.splitlines()[0]
        if re.fullmatch(r"# [\w.]+\.(py|yaml)", first):
            (folder / first[2:]).write_text(body)
    printed = io.StringIO()
    here = os.getcwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile("\n".join(blocks("python")), str(GUIDE), "exec"), {})
    finally:
        os.chdir(here)
    assert "DIV" in printed.getvalue()  # the core example printed its decomposition
    return folder / "own.yaml"


def test_the_guides_code_runs_and_its_configuration_passes_the_start_checks(tmp_path):
    config = load_config(follow_the_guide(tmp_path / "mine"))
    assert config["models"]["wide"]["arch"].endswith("own_model.py:WideNet")
    assert config["datasets"]["iris"]["task"] == "classification"
    # the same data from the guide's loader
    (loader,) = [yaml.safe_load(body) for body in blocks("yaml") if "loader:" in body]
    own = yaml.safe_load((tmp_path / "mine" / "own.yaml").read_text())
    (tmp_path / "mine" / "loaded.yaml").write_text(yaml.safe_dump(own | loader))
    loaded = load_config(tmp_path / "mine" / "loaded.yaml")["datasets"]["iris"]
    assert loaded["loader"].endswith("own_data.py:load_iris")
    assert (
        read_own("iris", loaded)["y"].tolist()
        == read_own("iris", config["datasets"]["iris"])["y"].tolist()
    )


def test_the_guide_names_the_figures_its_configuration_gets_and_how_it_runs(tmp_path):
    """The list of figures the guide's experiment gets is the registry's for its configuration,
    and the guide's command is the form the slow test runs (``in_own_folder``)."""
    from collusion.figures import FIGURES, drawn_figures

    config = load_config(follow_the_guide(tmp_path / "mine"))
    listed = re.search(r"one setting on its own data:\n(.*?)\.\n", GUIDE.read_text(), re.DOTALL)
    assert re.findall(r"`(\w+)`", listed.group(1)) == drawn_figures(config)
    others = GUIDE.read_text().split("The others need an experiment of their own:")[1]
    others = others.split("Asked for by")[0]
    assert set(re.findall(r"`(\w+)`", others)) >= set(FIGURES) - set(drawn_figures(config))
    (command, *_) = [body for body in blocks("bash") if "--directory" in body]
    assert "-s $CHECKOUT/Snakefile --directory $MINE --configfile $MINE/own.yaml" in command


def files_under(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` (but Snakemake's records and Python's bytecode caches) and its
    modification time."""
    return {
        str(path.relative_to(folder)): path.stat().st_mtime_ns
        for path in folder.rglob("*")
        if path.is_file() and not {".snakemake", "__pycache__"} & set(path.parts)
    }


def in_own_folder(repo: Path, folder: Path):
    """The guide's way to run: the checkout's Snakefile, the working directory one's own folder
    (and snakemake started from neither)."""

    def run(*args: str):
        return snakemake(
            folder.parent, "-s", str(repo / "Snakefile"), "--directory", str(folder), *args
        )

    return run


def report_of(run, out: Path, targets: list[str], configs: list[str]) -> str:
    """The Snakemake report of ``targets`` (the jobs that build them) under ``configs``."""
    result = run(*targets, "--report", str(out), "--configfile", *configs)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return out.read_text()


def embedded(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


@pytest.mark.slow
def test_an_own_learner_on_own_data_trains_through_the_snakefile(tmp_path):
    """The guide's files in a folder outside the checkout, shrunk to 1 seed, 2 β, 2 epochs, run
    there with the checkout's Snakefile (``--directory``): nothing is written into the checkout;
    then a second configuration (a wider learner) in the same working directory, under its own
    results_root: it writes nothing outside it but its data's (prepared data and log), and leaves
    the first one's outputs as they were; a third without a root of its own is refused at start
    (the root records the first); the report of each of the two shows its own table and none of
    the other's."""
    repo = copy_workflow(tmp_path / "repo")
    checkout = files_under(repo)
    mine = tmp_path / "mine"
    configfile = follow_the_guide(mine)
    run = in_own_folder(repo, mine)
    small = tmp_path / "mine" / "small.yaml"
    small.write_text(
        yaml.safe_dump(
            {
                "experiments": {"iris": {"seeds": [0], "betas": [0, 1], "ensemble_sizes": [3]}},
                "recipes": {"quick": {"epochs": 2}},
            }
        )
    )
    table = "paper/tables/independent_vs_joint.csv"  # its rule writes the report's .html too
    targets = [f"results/iris/{table}"]  # under the guide's results_root
    configs = [str(configfile), str(small)]
    result = run(*targets, "--cores", "2", "--configfile", *configs)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert files_under(repo) == checkout  # nothing written into the checkout
    assert not (repo / ".snakemake").exists()
    runs = sorted((mine / "results/iris/runs/iris/iris/wide").rglob("provenance.json"))
    assert len(runs) == 2
    record = json.loads(runs[0].read_text())
    # the guide's files, relative to the working directory they lie in (where every job runs)
    assert record["config"]["run"]["arch"] == "own_model.py:WideNet"
    assert record["config"]["run"]["model_options"] == {"width": 16}
    md5 = hashlib.md5((tmp_path / "mine" / "iris.csv").read_bytes()).hexdigest()
    assert record["data_source"] == {"file": "iris.csv", "md5": md5}
    assert "iris" in (mine / "results/iris" / table).read_text()
    # the configuration this root holds, relative to the working directory it lies in
    resolved = [str(Path(path).resolve().relative_to(mine)) for path in configs]
    assert recorded(str(mine / "results/iris")) == resolved == ["own.yaml", "small.yaml"]

    # another configuration file (the same text: the same root) is refused at start
    copy = tmp_path / "mine" / "copy.yaml"
    copy.write_text(configfile.read_text())
    result = run("-n", *targets, "--configfile", str(copy), str(small))
    refusal = result.stdout + result.stderr
    assert result.returncode != 0 and "results root error" in refusal, refusal[-3000:]
    for named in ("own.yaml", "copy.yaml", "'results/iris'", "results/copy` in"):
        assert named in refusal, refusal[-3000:]

    # a wider learner, on the same data from the guide's loader
    wider = tmp_path / "mine" / "wider.yaml"
    wider.write_text(
        yaml.safe_dump(
            {
                "results_root": "results/wider",
                "models": {"wide": {"width": 32}},
                "datasets": {
                    "iris_loaded": {"loader": "own_data.py:load_iris", "task": "classification"}
                },
                "experiments": {"iris": {"dataset": "iris_loaded"}},
            }
        )
    )
    first = files_under(mine)
    wider_targets = [f"results/wider/{table}"]
    wider_configs = [*configs, str(wider)]
    result = run(*wider_targets, "--cores", "2", "--configfile", *wider_configs)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    after = files_under(mine)
    assert {path: after[path] for path in first} == first  # the first's outputs untouched
    added = sorted(set(after) - set(first))
    assert set(wider_targets) <= set(added)
    outside = [path for path in added if not path.startswith("results/wider/")]
    assert outside == ["logs/data/prepare_iris_loaded.log", "resources/prepared/iris_loaded.npz"]
    (wide,) = [p for p in added if p.endswith("beta1/seed0/provenance.json")]
    record = json.loads((mine / wide).read_text())
    assert record["config"]["run"]["model_options"] == {"width": 32}
    source = tmp_path / "mine" / "own_data.py"
    md5 = hashlib.md5(source.read_bytes()).hexdigest()
    assert record["data_source"]["file"] == f"loader own_data.py:load_iris (own_data.py, md5 {md5})"

    # the report of each (of the jobs these tests ran): its own table, never the other's
    reports = {
        "results/iris": report_of(run, tmp_path / "first.html", targets, configs),
        "results/wider": report_of(run, tmp_path / "wider.html", wider_targets, wider_configs),
    }
    shown = table.replace(".csv", ".html")
    tables = {root: embedded(mine / root / shown) for root in reports}
    assert tables["results/iris"] != tables["results/wider"]  # width 16 and 32 train apart
    for root, report in reports.items():
        other = next(r for r in reports if r != root)
        assert tables[root] in report and tables[other] not in report
        assert f"{root}/{shown}" in report and f"{other}/{shown}" not in report
        assert "two-sided exact sign-flip p-values" in report  # its caption
