"""The real Snakefile on the tiny configuration, through every rule, in a temporary directory."""

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from collusion import objective
from collusion.config_errors import load_config
from collusion.figures import (
    FIGURES,
    PAPER_TABLES,
    SECTIONS,
    drawn_figures,
    drawn_tables,
    regime_map,
)
from pipeline_helpers import TINY, copy_workflow, snakemake

pytestmark = pytest.mark.slow

CONFIG = yaml.safe_load(TINY.read_text())
# what the tiny configuration can draw: not the ensemble-size, capacity and budget studies
DRAWN_FIGURES = drawn_figures(load_config(TINY))
TABLES = drawn_tables(load_config(TINY))


@pytest.fixture(scope="module")
def workdir(tiny_run):
    """The tiny configuration through every rule (conftest.tiny_run, shared with other files)."""
    return tiny_run


def test_every_target_is_built(workdir):
    paper = workdir / "results" / "paper"
    for name in DRAWN_FIGURES:
        for ext in ("pdf", "png"):
            assert (paper / "figures" / f"{name}.{ext}").stat().st_size > 1000
    for name in TABLES:
        for ext in ("csv", "md", "tex", "html"):
            assert (paper / "tables" / f"{name}.{ext}").exists()
    for name in ("claims.md", "claims.csv", "claims.html", "summary.html", "report.rst"):
        assert (paper / name).exists()
    # a figure or table the configuration has no experiment for is not built
    # (wood: tiny's experiments split with each run's seed, so no two seeds share a test set)
    assert {"ensemble_size", "capacity_map", "wood", "budget"} == set(FIGURES) - set(DRAWN_FIGURES)
    assert not (paper / "figures" / "ensemble_size.png").exists()
    assert not (paper / "tables" / "capacity.csv").exists()
    assert not (paper / "figures" / "budget.png").exists()


def test_regime_map_draws_the_claims_tables_primary_rows(workdir):
    claims = pd.read_csv(workdir / "results" / "paper" / "claims.csv")
    missing = regime_map.missing_columns(claims)
    assert not missing, f"claims.csv lacks the contract's columns {missing}"
    primary = claims[claims["primary"].astype(str).str.lower() == "true"][
        ["claim", "endpoint"]
    ].drop_duplicates()
    expected = claims.merge(primary, on=["claim", "endpoint"])
    cells = regime_map.cells(claims)
    assert len(cells) == len(expected) > 0
    assert list(cells["verdict"]) == list(expected["verdict"].fillna("n/a"))
    fig = regime_map.draw({"claims": claims})
    drawn = sum(len(ax.texts) for ax in fig.axes if ax.images)
    assert drawn == len(cells)


def test_rerun_has_nothing_to_do(workdir):
    result = snakemake(workdir, "-n", "--cores", "1", "--configfile", str(TINY))
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_a_moved_checkout_plans_nothing(workdir, tmp_path):
    """No rule depends on an absolute path: a checkout moved (or copied) with its results and
    Snakemake's records plans nothing (figure rules named their code by absolute path)."""
    moved = tmp_path / "elsewhere" / "checkout"
    shutil.copytree(workdir, moved, symlinks=True)
    result = snakemake(moved, "-n", "--cores", "1", "--configfile", str(TINY))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Nothing to be done" in result.stdout + result.stderr, result.stdout[-3000:]


def run_dirs(workdir):
    return sorted(p.parent for p in (workdir / "results" / "runs").rglob("history.csv"))


def test_runs_are_complete_and_consistent(workdir):
    dirs = run_dirs(workdir)
    expected = sum(
        len(e["models"])
        * len(e["aggregations"])
        * len(e["ensemble_sizes"])
        * len(e["betas"])
        * len(e["seeds"])
        for e in CONFIG["experiments"].values()
    )
    assert len(dirs) == expected
    for run_dir in dirs:
        history = pd.read_csv(run_dir / "history.csv")
        provenance = json.loads((run_dir / "provenance.json").read_text())
        for key in ("config", "config_hash", "code", "packages", "data", "device", "threads"):
            assert key in provenance
        assert provenance["threads"] == 1
        outcome = provenance["outcome"]
        assert outcome["epochs_run"] == len(history)
        aggregation = provenance["config"]["run"]["aggregation"]
        with np.load(run_dir / "predictions.npz") as predictions:
            last = torch.as_tensor(predictions["last_test"], dtype=torch.float64)
            y = torch.as_tensor(predictions["y_test"])
            assert last.shape[0] == provenance["config"]["run"]["n_members"]
            if outcome["status"] == "completed":
                # the saved outputs reproduce the logged metrics of the last epoch
                parts = objective.decomposition(last, y, aggregation)
                row = history.iloc[-1]
                assert float(parts["L_ens"]) == pytest.approx(row["test_L_ens"], rel=1e-4, abs=1e-6)
                assert float(parts["DIV"]) == pytest.approx(row["test_DIV"], rel=1e-3, abs=1e-5)
                best = history.loc[history["val_L_ens"].idxmin(), "epoch"]
                assert int(predictions["best_epoch"]) == best


def test_beta_above_one_is_recorded_as_diverged(workdir):
    table = pd.read_csv(workdir / "results" / "paper" / "tables" / "divergence.csv")
    assert set(table["beta"]) == {1.5, 2.0}
    assert "diverged" in set(table.loc[table["beta"] == 2.0, "status"])


def test_runs_table_matches_histories(workdir):
    runs = pd.read_csv(workdir / "results" / "tables" / "digits" / "runs.csv")
    for row in runs.itertuples():
        run_dir = (
            workdir
            / "results"
            / "runs"
            / row.experiment
            / row.dataset
            / row.model
            / row.aggregation
            / f"M{row.members}"
            / f"beta{row.beta:g}"
            / f"seed{row.seed}"
        )
        history = pd.read_csv(run_dir / "history.csv").set_index("epoch")
        assert row.test_L_ens == pytest.approx(history.loc[row.epoch, "test_L_ens"])
        assert row.test_error == pytest.approx(1 - history.loc[row.epoch, "test_acc"])


def test_sweep_and_diversity_tables_show_calibration_and_wood_terms(workdir):
    tables = workdir / "results" / "paper" / "tables"
    sweep = pd.read_csv(tables / "beta_sweep.csv")
    classification = sweep[sweep["aggregation"] != "regression"]
    for metric in ("ece", "brier", "nll", "disagreement", "wood_diversity"):
        assert classification[f"{metric}_mean"].notna().all(), metric
    # Wood's bias and variance need one test set for every seed; tiny.yaml splits with each run's seed
    assert {"wood_bias_mean", "wood_variance_mean"} <= set(sweep.columns)
    assert sweep.loc[sweep["aggregation"] == "regression", "ece_mean"].isna().all()
    diversity = pd.read_csv(tables / "diversity.csv")
    # Wood's diversity is the paper's Jensen gap under score averaging and for squared loss (wood.py)
    same = diversity[diversity["aggregation"].isin(["score", "regression"])]
    assert len(same) and same["wood_diversity_mean"].to_numpy() == pytest.approx(
        same["test_DIV_mean"].to_numpy(), rel=1e-3, abs=1e-6
    )


def test_improvement_table_agrees_with_the_runs_table(workdir):
    """Theisen et al.'s terms from the saved predictions; the learners' mean test error is the runs
    table's (from the histories) at the same checkpoint."""
    keys = ["experiment", "model", "aggregation", "members", "beta", "seed", "selection"]
    checked = 0
    for path in (workdir / "results" / "tables").glob("*/improvement.csv"):
        improvement = pd.read_csv(path)
        runs = pd.read_csv(path.with_name("runs.csv"))
        runs = runs[runs["aggregation"] != "regression"]
        assert len(improvement) == len(runs), path
        if runs.empty:  # diabetes: regression runs give no row
            continue
        checked += 1
        both = improvement.merge(runs, on=keys, validate="one_to_one")
        done = both[both["status"] == "completed"]
        assert len(done) and done["member_error"].to_numpy() == pytest.approx(
            done["test_learner_error"].to_numpy(), abs=1e-6
        )
        assert done["ensemble_error"].to_numpy() == pytest.approx(
            done["test_error"].to_numpy(), abs=1e-6
        )
        eir = 1 - done["majority_vote_error"] / done["member_error"]
        assert done["EIR"].to_numpy() == pytest.approx(eir.to_numpy())
    assert checked == 3  # digits, digits_dropout and digits_gncl


def test_claims_are_computed_from_the_runs(workdir):
    claims = pd.read_csv(workdir / "results" / "paper" / "claims.csv")
    runs = pd.concat(pd.read_csv(p) for p in (workdir / "results" / "tables").glob("*/runs.csv"))
    assert set(claims["claim"]) == set(range(1, 8))
    rows = claims[(claims["claim"] == 1) & (claims["endpoint"] == "test_error")]
    assert len(rows)
    for row in rows.itertuples():
        mine = runs[
            (runs["model"] == row.model)
            & (runs["aggregation"] == row.aggregation)
            & (runs["selection"] == row.selection)
            & (runs["experiment"] == row.experiment)
            & (runs["status"] == "completed")
        ]
        assert row.beta0_mean == pytest.approx(mine.loc[mine["beta"] == 0, "test_error"].mean())
        assert row.beta1_mean == pytest.approx(mine.loc[mine["beta"] == 1, "test_error"].mean())
        diff = (
            mine[mine["beta"] == 1].set_index("seed")["test_error"]
            - mine[mine["beta"] == 0].set_index("seed")["test_error"]
        )
        assert row.diff_mean == pytest.approx(diff.mean())
        assert [float(v) for v in str(row.per_seed).split(";")] == pytest.approx(
            diff.tolist(), rel=1e-5
        )
        # two seeds cannot reach p < 0.05 with an exact test (2/2² = 0.5)
        assert row.p_exact in (0.5, 1.0) and row.verdict == "insufficient data"
    summary = (workdir / "results" / "paper" / "claims.md").read_text()
    for claim in range(1, 8):
        assert f"| {claim} |" in summary


def test_mitigation_claims_pair_each_mitigated_run_with_its_baseline(workdir):
    paper = workdir / "results" / "paper"
    table = pd.read_csv(paper / "mitigation_claims.csv")
    runs = pd.concat(pd.read_csv(p) for p in (workdir / "results" / "tables").glob("*/runs.csv"))
    mitigated = {"digits_dropout", "digits_gncl"}
    assert set(table["experiment"]) == mitigated and set(table["baseline"]) == {"digits"}
    assert set(table["mitigation"]) == {"learner_dropout 0.5", "gncl (λ = β)"}
    assert not mitigated & set(
        pd.read_csv(paper / "claims.csv")["experiment"]
    )  # the paper's claims
    for row in table[table["endpoint"] == "test_error"].itertuples():

        def mean(experiment, beta, selection=row.selection):
            chosen = runs[
                (runs["experiment"] == experiment)
                & (runs["beta"] == beta)
                & (runs["model"] == "mlp")
                & (runs["aggregation"] == "score")
                & (runs["selection"] == selection)
            ]
            return chosen["test_error"].mean()

        assert row.mitigated_mean == pytest.approx(mean(row.experiment, 1.0))
        assert row.reference_mean == pytest.approx(
            mean("digits", 1.0 if row.comparison == "recovery" else 0.0)
        )
        assert (
            row.n_seeds == 2
            and row.verdict == "insufficient data"
            and row.answer == "insufficient data"
        )
    assert "## Mitigations: does mitigation X recover" in (paper / "claims.md").read_text()
    assert (paper / "figures" / "mitigations.png").stat().st_size > 0


def test_report_shows_every_figure_and_table_inline(workdir):
    css = "workflow/report/report.css"
    result = snakemake(
        workdir,
        *("--report", "report.html", "--report-stylesheet", css, "--configfile", str(TINY)),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = (workdir / "report.html").read_text()
    # the landing page: this run at a glance, from the claims table and the runs' provenance
    assert "This run at a glance" in report and "Where to look" in report
    claims = pd.read_csv(workdir / "results" / "paper" / "claims.csv")
    for claim in sorted(set(claims["claim"])):
        assert f"<strong>{claim}</strong>" in report
    assert "digest" in report and "Commit" in report and "Seeds" in report
    assert "safe center" in report  # the stylesheet
    # the report's own index: section -> subcategory -> registered files
    categories = json.loads(
        re.search(r"var categories = (\{.*?\});\s*</script>", report, re.S).group(1)
    )
    assert set(categories) == set(SECTIONS.values())
    registered = {
        path: (section, sub)
        for section, subs in categories.items()
        for sub, paths in subs.items()
        for path in paths
    }
    for name in DRAWN_FIGURES:
        entry = FIGURES[name]
        assert registered[f"results/paper/figures/{name}.png"] == (
            SECTIONS[entry.section],
            "Figures",
        )
    for name in TABLES:
        entry = PAPER_TABLES[name]
        assert registered[f"results/paper/tables/{name}.html"] == (
            SECTIONS[entry.section],
            "Tables",
        )
    assert registered["results/paper/claims.html"] == (SECTIONS["about"], "Claims")
    assert registered["results/paper/summary.html"] == (SECTIONS["about"], "What was run")
    # one entry per figure and table the configuration can draw, and no other
    assert len(registered) == len(DRAWN_FIGURES) + len(TABLES) + 2


def plan_after(workdir, edits: dict, overlay=None, targets=None) -> dict[str, str]:
    """A dry run of the whole workflow (or of ``targets``, rule -> its files, by those rules only:
    their inputs taken as they are) with ``edits`` (path -> text appended) made to its files for
    the while, and the configuration file ``overlay`` over tiny.yaml: each planned rule -> its
    reasons. (Snakemake checks a job's params only when nothing upstream reruns it.)"""
    originals = {path: (workdir / path).read_text() for path in edits}
    only = []
    if targets:
        only = [f for files in targets.values() for f in files] + ["--allowed-rules", *targets]
    try:
        for path, text in edits.items():
            (workdir / path).write_text(originals[path] + text)
        configfiles = [str(TINY)] + ([str(overlay)] if overlay else [])
        result = snakemake(workdir, *only, "-n", "--cores", "1", "--configfile", *configfiles)
    finally:
        for path, text in originals.items():
            (workdir / path).write_text(text)
    assert result.returncode == 0, result.stderr[-3000:]
    reasons = {}
    for block in re.split(r"^\s*rule ", result.stdout, flags=re.M)[1:]:  # group jobs: indented
        name = block.split(":", 1)[0].strip()
        reason = re.search(r"^\s+reason: (.*)$", block, re.M)
        reasons[name] = reasons.get(name, "") + (reason.group(1) if reason else "")
    return reasons


def changed_params(reasons: dict[str, str]) -> set[str]:
    return {name for name, reason in reasons.items() if "Params have changed" in reason}


@pytest.mark.parametrize(
    "edited, expected",
    [
        ("src/collusion/stats.py", {"claims"}),
        ("src/collusion/figures/beta_sweep.py", {"figure_beta_sweep"}),
        ("src/collusion/analysis.py", {"analyse_runs", "analyse_divergence"}),
    ],
)
def test_an_edit_reruns_exactly_the_rules_that_run_the_code(workdir, edited, expected):
    """Each analysis, table, claims and figure rule carries the fingerprint of the code it runs
    (its script and the package modules it imports, collusion.fingerprint)."""
    reasons = plan_after(workdir, {edited: "\n# an edit\n"})
    assert not any(name.startswith("train") for name in reasons), sorted(reasons)
    assert expected <= changed_params(reasons), sorted(changed_params(reasons))
    if edited.endswith("beta_sweep.py"):
        assert set(reasons) - {"all"} == {"figure_beta_sweep"}, sorted(reasons)
    if edited.endswith("stats.py"):  # the statistics: not the per-experiment analyses
        assert not any(name.startswith("analyse") for name in reasons), sorted(reasons)


def test_every_rule_downstream_of_training_carries_the_specs_of_the_runs_it_reads(
    workdir, tmp_path
):
    """A configuration change reaches every rule that reads the changed runs through a param, not
    only through its inputs' time stamps: a rebuild after an interrupted retrain never accepts a
    table or claim of the earlier configuration."""
    # over tiny.yaml (the same configuration, changed: another file would be refused at start,
    # collusion.root_owner)
    changed = {"recipes": {"tiny_tabular": {"lr": 0.002}}}  # the diabetes runs
    configfile = tmp_path / "changed.yaml"
    configfile.write_text(yaml.safe_dump(changed))
    assert "train" in changed_params(plan_after(workdir, {}, configfile))  # the diabetes runs
    # a rebuild from the runs on disk (say, a retrain cut short): the rules that read them ...
    tables = "results/tables"
    first = {
        f"analyse_{name}": [f"{tables}/diabetes/{name}.csv"]
        for name in ("runs", "debias", "gen_gap")
    }
    first |= {"analyse_divergence": [f"{tables}/divergence.csv"]}
    first |= {"summary": ["results/paper/summary.html"]}
    params = changed_params(plan_after(workdir, {}, configfile, first))
    assert set(first) <= params, params
    # ... and those that read their tables
    paper = "results/paper"
    second = {
        "claims": [f"{paper}/claims.csv"],
        "table_beta_sweep": [f"{paper}/tables/beta_sweep.csv"],
        "figure_beta_sweep": [f"{paper}/figures/beta_sweep.pdf"],
        "figure_divergence": [f"{paper}/figures/divergence.pdf"],
    }
    params = changed_params(plan_after(workdir, {}, configfile, second))
    assert set(second) <= params, params


def train_job_count(dry_run_stdout: str) -> int:
    lines = [line.split() for line in dry_run_stdout.splitlines()]
    return next(int(parts[1]) for parts in lines if len(parts) == 2 and parts[0] == "train")


def test_a_single_figure_builds_only_the_runs_it_draws(tmp_path):
    workdir = copy_workflow(tmp_path)
    # β ∈ {0, 1}, first seed, per (model, aggregation) of each sweep experiment: 2*2*2 + 1*1*2,
    # and digits_dropout's and digits_gncl's β = 1
    for target in ("figure_dynamics", "results/paper/figures/dynamics.pdf"):
        # targets go before --configfile, which takes several values
        result = snakemake(workdir, target, "-n", "--cores", "1", "--configfile", str(TINY))
        assert result.returncode == 0, result.stderr[-3000:]
        assert train_job_count(result.stdout) == 12


def test_graphs_render_and_lint_passes(tmp_path):
    workdir = copy_workflow(tmp_path)
    for flag in ("--rulegraph", "--dag"):
        result = snakemake(workdir, flag, "--configfile", str(TINY))
        assert result.returncode == 0 and result.stdout.lstrip().startswith("digraph"), (
            result.stderr[-2000:]
        )
        # the README's graph without graphviz: a Mermaid flowchart
        mermaid = snakemake(workdir, flag, "mermaid-js", "--configfile", str(TINY))
        assert mermaid.returncode == 0 and "flowchart" in mermaid.stdout, mermaid.stderr[-2000:]
    lint = snakemake(workdir, "--lint", "--configfile", str(TINY))
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "Snakefile", "workflow"],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
