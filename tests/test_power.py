"""The power check (what a design can answer before it runs) and the claims' inference validated
by simulation on synthetic grids of the paper's shape (fixed seeds; the rates over many more grids
are benchmarks/claims_power.csv)."""

import copy

import numpy as np
import pytest

from collusion import config_errors, power
from pipeline_helpers import REPO, TINY, copy_workflow, snakemake

PAPER = config_errors.load_config(REPO / "config" / "paper.yaml")
TINY_CONFIG = config_errors.load_config(TINY)


def test_the_paper_grid_can_answer_every_claim_but_no_single_setting():
    table = power.check(PAPER).set_index(["claim", "endpoint"])
    assert len(table) == 9 and table["reachable"].all()
    # claim 1's per-setting family at paper scale: 42 test-error and 34 test-NLL rows
    assert table.loc[(1, "test_error"), "settings"] == 42
    assert table.loc[(1, "test_nll"), "settings"] == 34
    assert (table["setting_seeds_needed"] > 5).all()  # five seeds never give a setting verdict
    # an exact sign-flip test over 5 seeds cannot go below 2/32; Holm over 76 rows
    assert "p_holm ≥ 1" in table.loc[(1, "test_error"), "per_setting"]
    assert (table["detectable_delta"] < 1).all()
    text = power.report(PAPER, "config/paper.yaml")
    assert "WARNING" not in text and "Every claim can reach a verdict" in text


def test_a_design_that_cannot_answer_is_warned_with_the_seeds_it_needs():
    text = power.report(TINY_CONFIG, "tiny")
    for claim in range(1, 8):
        assert f"WARNING: claim {claim} (" in text
    table = power.check(TINY_CONFIG)
    assert not table["reachable"].any()
    needed = int(table["seeds_needed"].max())
    assert f"give every setting at least {needed} seeds (for the claim's verdict" in text
    # the fix works: that many seeds everywhere reaches a verdict for every claim
    fixed = copy.deepcopy(TINY_CONFIG)
    for exp in fixed["experiments"].values():
        exp["seeds"] = list(range(needed))
    assert power.check(fixed)["reachable"].all()
    assert "WARNING" not in power.report(fixed)


def test_the_claim_level_and_a_settings_own_seed_counts_are_told_apart():
    """One setting of five seeds: its own verdict needs 7 seeds (Holm within the claim), the
    claim's 9 (Holm over every claim's primary tests); the table said "a setting verdict needs ≥ 7
    seeds" and the warning "give every setting at least 9 seeds", with nothing to tell them apart."""
    one = copy.deepcopy(TINY_CONFIG)
    (name, experiment), *_ = one["experiments"].items()
    one["experiments"] = {name: experiment}
    experiment.update(seeds=list(range(5)), models=experiment["models"][:1])
    experiment.update(aggregations=["score"], ensemble_sizes=experiment["ensemble_sizes"][:1])
    table = power.check(one).set_index(["claim", "endpoint"])
    claim_level = int(table.loc[(1, "test_error"), "seeds_needed"])
    own = int(table.loc[(1, "test_error"), "setting_seeds_needed"])
    assert claim_level != own
    text = power.report(one)
    assert "at two levels that need different seed counts" in text
    assert f"a setting's own verdict needs ≥ {own} seeds" in text
    assert "a setting verdict" not in text
    assert "WARNING: claim 1 (" in text and "cannot reach a verdict at the claim level" in text
    assert f"give every setting at least {claim_level} seeds (for the claim's verdict;" in text


def test_paper_yaml_states_its_cost_and_power():
    text = (REPO / "config" / "paper.yaml").read_text()
    assert power.header(PAPER) in text


@pytest.mark.slow
def test_a_dry_run_prints_the_power_check_and_is_not_stopped_by_it(tmp_path):
    workdir = copy_workflow(tmp_path)
    result = snakemake(workdir, "-n", "--configfile", str(TINY))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Power check" in result.stderr and "WARNING: claim 1 (" in result.stderr


# -- validation by simulation ---------------------------------------------------------------------


def test_a_plausible_effect_is_supported_at_paper_scale():
    rates = power.simulate(PAPER, power.PLAUSIBLE, grids=25, seed=0)["supported"]
    assert len(rates) == 7
    for claim, rate in rates.items():
        assert rate >= 0.8, (claim, rate)


def test_no_effect_is_rarely_a_verdict_at_paper_scale():
    family_wise = power.simulate(PAPER, power.Effect(), grids=40, seed=1)["any_test"]
    assert family_wise <= 0.15  # 40 grids: the benchmark measures the rate over 2,000


def test_the_family_wise_error_over_claims_holds_under_the_null():
    # a small design whose pooled tests are exact (12 units): many grids quickly
    small = copy.deepcopy(TINY_CONFIG)
    small["experiments"] = {"digits": small["experiments"]["digits"]}
    small["experiments"]["digits"]["models"] = ["mlp", "cnn", "mlp2"]
    small["models"]["mlp2"] = dict(small["models"]["mlp"])
    small["experiments"]["digits"]["seeds"] = [0, 1, 2, 3]
    assert power.check(small)["reachable"].all() and (power.check(small)["units"] == 12).all()
    grids = 400
    family_wise = power.simulate(small, power.Effect(), grids=grids, seed=2)["any_test"]
    assert family_wise <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / grids)
