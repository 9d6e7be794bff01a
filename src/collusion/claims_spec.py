"""What the claims table tests, declared before any data: the claims, their endpoints and effect-
size criteria, the verdict words and how a verdict follows from a test, and the columns of the two
claims tables (collusion.claims builds them; docs/paper.md explains the choices)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import stats
from .analysis import GROUP
from .spec import parse_selection

CLAIMS = {
    1: "Joint training (β=1) generalises worse than independent training (β=0)",
    2: "Diversity explodes as β → 1 (yet test loss is worse: claim 1)",
    3: "The generalisation gap (test − train ensemble loss) is larger for joint training",
    4: "Debiasing removes most of the joint ensemble's diversity, little of the independent one's",
    5: "Learners become codependent: dropping learners costs far more at β=1",
    6: "At β=1 learners are individually far worse than their ensemble, over training",
    7: "Some intermediate β beats both β=0 and β=1 (v1 only)",
}
VERDICTS = {
    "supported": "significant after Holm in the claim's direction, and its effect-size criterion "
    "(if any) holds on the 95 % interval",
    "contradicted": "significant after Holm in the opposite direction",
    "not significant": "neither (also: significant but the criterion's interval does not clear "
    "its threshold)",
    "insufficient data": "the seeds cannot reach the significance level at all after Holm "
    "(family size × smallest attainable p ≥ the level)",
    "n/a": "the claim does not apply to the setting",
}
NO_CRITERION = "none (significance only)"
LATE_SHARE = 0.1  # the last 10 % of the budget


@dataclass(frozen=True)
class Column:
    name: str
    meaning: str
    shown: bool = True  # in claims.md's table of every row


SETTING_COLUMNS = [
    Column("experiment", "the setting: experiment"),
    Column("dataset", "dataset", shown=False),
    Column("model", "model (the config's name)"),
    Column("aggregation", "aggregation"),
    Column("members", "M"),
    Column("selection", "checkpoint: best_val (lowest validation L_ens, the authors' rule), last"),
]
ROW_COLUMNS = [
    Column("claim", "1..7"),
    *SETTING_COLUMNS,
    Column("endpoint", "short name: test_error, test_nll, test_DIV, gen_gap_matched, ..."),
    Column("primary", "the claim's pre-declared primary endpoint at the primary selection"),
    Column("n_seeds", "seeds paired (both compared β finished)"),
    Column("n_diverged", "runs of the compared β left out because they diverged"),
    Column("beta0_mean", "mean of the endpoint at β = 0"),
    Column("beta1_mean", "mean of the endpoint at β = 1"),
    Column("diff_mean", "paired mean difference, signed so that the claim's direction is positive"),
    Column("diff_sd", "SD of the per-seed differences", shown=False),
    Column("ci_low", "95 % t interval of diff_mean, lower end (exists from 2 seeds)"),
    Column("ci_high", "95 % t interval of diff_mean, upper end"),
    Column("effect", "the statistic the effect-size criterion reads (diff_mean when none)"),
    Column("effect_low", "95 % interval of effect, lower end (t; Fieller for a ratio)"),
    Column("effect_high", "95 % interval of effect, upper end"),
    Column("threshold", "the effect-size criterion, as text"),
    Column("criterion_met", "the effect's interval lies beyond the threshold", shown=False),
    Column("p_exact", "exact paired sign-flip test, two-sided"),
    Column("p_t", "paired t-test, two-sided"),
    Column("p_holm", "Holm within holm_family"),
    Column("holm_family", "the claim's primary rows; else (claim, selection, endpoint)", False),
    Column("p_bh", "Benjamini–Hochberg over the whole table"),
    Column("verdict", "supported | contradicted | not significant | insufficient data | n/a"),
    Column("setting_verdict", "the setting's verdict over the claim's primary endpoints", False),
    Column("fragile", "the verdict changes when some one seed is left out"),
    Column("loso", "seeds whose omission changes the verdict: 'seed: verdict'", shown=False),
    Column("under_trained", "selected epoch in the last 10 % of the budget for ≥ half the seeds"),
    Column("late_seeds", "seeds whose selected epoch lies in the last 10 % of the budget", False),
    Column("budget", "the runs' budget, epochs", shown=False),
    Column("seeds", "the paired seeds, ';'-separated, in per_seed's order", shown=False),
    Column("per_seed", "the per-seed paired differences, ';'-separated", shown=False),
    Column("note", "what the endpoint is, and context"),
]
POOLED_COLUMNS = [
    Column("claim", "1..7"),
    Column("endpoint", "the endpoint pooled"),
    Column("selection", "checkpoint selection"),
    Column("primary", "a claim's primary test: level all, primary endpoint, primary selection"),
    Column("level", "all (every setting of the claim) | dataset | model"),
    Column("group", "the dataset or model pooled ('all' at level all)"),
    Column("settings", "settings with paired seeds"),
    Column("units", "independent units flipped (seeds × settings not sharing β = 0 learners)"),
    Column("pairs", "(setting, seed) pairs"),
    Column("settings_positive", "settings whose mean difference goes the claim's way, of all"),
    Column("dz_min", "smallest per-setting standardised effect d_z = mean / SD (heterogeneity)"),
    Column("dz_median", "median d_z over the settings"),
    Column("dz_max", "largest d_z"),
    Column("z", "pooled statistic over its permutation SD; > 0 is the claim's direction"),
    Column("p_exact", "stratified sign-flip test over the pairs, two-sided"),
    Column("p_holm", "Holm within holm_family"),
    Column("holm_family", "the claims' primary tests; else (selection, level, claim, endpoint)"),
    Column("threshold", "the effect-size criterion, as text"),
    Column("criterion_z", "pooled statistic of the criterion's contrast"),
    Column("p_criterion", "stratified sign-flip test of the criterion's contrast"),
    Column("p_criterion_holm", "Holm over the family's criterion tests"),
    Column("criterion_met", "the criterion's contrast is significantly on the claim's side"),
    Column("verdict", "this endpoint's verdict (VERDICTS)"),
    Column("claim_verdict", "the claim's verdict in this group: all primary endpoints agree"),
    Column("fragile", "the verdict changes when some one seed is left out"),
    Column("loso", "seeds whose omission changes the verdict: 'seed: verdict'"),
    Column("under_trained", "settings flagged under-trained, of all"),
    Column("note", "what was pooled"),
]
COLUMNS = [column.name for column in ROW_COLUMNS]
POOLED = [column.name for column in POOLED_COLUMNS]
KEY = ["claim", "endpoint", *GROUP]  # one row of the rows table
UNIT = ["experiment", "dataset", "model", "members", "seed"]  # pairs sharing β = 0 learners
LEVELS = {"all": None, "dataset": "dataset", "model": "model"}
PAIR = [*KEY, "seed", "x0", "x1", "xs", "epoch", "budget"]  # one paired seed of one row


@dataclass(frozen=True)
class Criterion:
    """An effect-size criterion for the claims that say "explodes", "most", "far more", "far worse":
    effect ≥ minimum, judged on the effect's 95 % interval."""

    statistic: str  # "ratio" (β1 mean / β0 mean), "beta1" (β1 mean) or "diff" (mean difference)
    minimum: float
    text: str

    def effect(self, x0: np.ndarray, x1: np.ndarray) -> tuple[float, float, float]:
        """The effect and its 95 % interval from the paired values at β = 0 and β = 1."""
        if self.statistic == "ratio":
            m0, m1 = x0.mean(), x1.mean()
            point = m1 / m0 if m0 > 0 else (math.inf if m1 > 0 else float("nan"))
            return (point, *stats.fieller_interval(x1, x0))
        values = x1 if self.statistic == "beta1" else x1 - x0
        return (float(values.mean()), *stats.t_interval(values))

    def contrast(self, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
        """Per pair, a value whose mean is > 0 exactly when the effect exceeds the minimum."""
        if self.statistic == "ratio":
            return x1 - self.minimum * x0
        return (x1 if self.statistic == "beta1" else x1 - x0) - self.minimum


RATIO_3 = Criterion("ratio", 3.0, "ratio β1/β0 of the means ≥ 3")
MOST_REMOVED = Criterion("beta1", 50.0, "β=1 mean ≥ 50 %")
FIVE_POINTS = Criterion("diff", 5.0, "gap difference ≥ 5 accuracy points")


@dataclass(frozen=True)
class Endpoint:
    claim: int
    name: str
    column: str  # in the prepared frame of ``source``
    description: str
    source: str = "runs"  # runs | debias | learner_dropout
    primary: bool = False
    aggregations: tuple[str, ...] | None = None  # None: every one of ``tasks``
    tasks: tuple[str, ...] = ("classification", "regression")
    criterion: Criterion | None = None
    na_note: str = ""  # where it does not apply: an n/a row with this note (else no row)
    epoch: str = "epoch"  # the column of the epoch each run was measured at

    def applies(self, aggregation: str) -> bool:
        if self.aggregations is not None:
            return aggregation in self.aggregations
        return task_of(aggregation) in self.tasks


# The pre-declared endpoints. Primary ones count in the headline, at the primary selection only.
ENDPOINTS = [
    Endpoint(
        1, "test_error", "test_error", "test error (1 − accuracy; MSE for regression)", primary=True
    ),
    Endpoint(
        1,
        "test_nll",
        "test_L_ens",
        "test NLL of the ensemble",
        primary=True,
        tasks=("classification",),
    ),
    Endpoint(2, "test_DIV", "test_DIV", "test DIV", primary=True, criterion=RATIO_3),
    Endpoint(2, "train_DIV", "train_DIV", "train DIV", criterion=RATIO_3),
    Endpoint(
        3,
        "gen_gap_matched",
        "gen_gap_matched",
        "test − train L_ens, both β at the epoch β = 0 selected (matched training)",
        primary=True,
        epoch="matched_epoch",
    ),
    Endpoint(3, "gen_gap", "gen_gap", "test − train L_ens, each run at its own selected epoch"),
    Endpoint(
        4,
        "DIV_removed_pct",
        "DIV_decrease_pct",
        "% of test DIV removed by debiasing",
        source="debias",
        primary=True,
        aggregations=("score", "regression"),
        criterion=MOST_REMOVED,
        na_note="debiasing keeps the ensemble unchanged only where raw outputs are averaged",
    ),
    Endpoint(
        5,
        "dropout_increase",
        "increase",
        "test error increase when learners are dropped (mean over fractions)",
        source="learner_dropout",
        primary=True,
        criterion=RATIO_3,
    ),
    Endpoint(
        6,
        "learner_gap_dynamics",
        "learner_gap_dynamics",
        "ensemble − mean learner validation accuracy, points, mean over epochs up to the selected one",
        primary=True,
        tasks=("classification",),
        criterion=FIVE_POINTS,
        na_note="regression: L_ind − L_ens is test DIV, so this is claim 2 (not re-tested)",
    ),
    Endpoint(
        6,
        "learner_gap",
        "learner_gap",
        "mean learner − ensemble test error at the selected epoch, points",
        tasks=("classification",),
        criterion=FIVE_POINTS,
    ),
]
# Claim 7: the intermediate β with the lowest mean validation value, against both extremes on test.
# (name, test column, validation column, tasks)
CLAIM7_ENDPOINTS = [
    ("test_error", "test_error", "val_error", ("classification", "regression")),
    ("test_nll", "test_L_ens", "val_L_ens", ("classification",)),
]
CLAIM7_TEXT = "test_error, test_nll (classification): β* vs both extremes"


def task_of(aggregation: str) -> str:
    return "regression" if aggregation == "regression" else "classification"


def setting_label(row) -> str:
    return f"{row['experiment']}/{row['model']}/{row['aggregation']}/M{int(row['members'])}"


def primary_endpoints(claim: int) -> list[str]:
    if claim == 7:
        return [name for name, *_ in CLAIM7_ENDPOINTS]
    return [e.name for e in ENDPOINTS if e.claim == claim and e.primary]


def is_primary_endpoint(table: pd.DataFrame) -> np.ndarray:
    """Rows whose endpoint is one of their claim's primary endpoints (at any selection)."""
    return np.array(
        [e in primary_endpoints(int(c)) for c, e in zip(table["claim"], table["endpoint"])],
        dtype=bool,
    )


def budget_of(selection: str, budget: float) -> float:
    """The epochs a selection could choose from: B for ``<rule>@B``, else the run's budget."""
    horizon = parse_selection(selection)[1]
    return float(horizon) if horizon is not None else budget


def selects_at_end(selection: str) -> bool:
    """The last epoch is at the end of the budget by definition: never flagged under-trained."""
    return parse_selection(selection)[0] == "last"


def late_epoch(epoch, budget):
    """Whether a selected epoch lies in the last ``LATE_SHARE`` of the budget (the under-training
    rule; numbers or arrays)."""
    return epoch > (1 - LATE_SHARE) * budget


def under_trained(late_share: float) -> bool:
    """The under-training rule: at least half the seeds select a late epoch (``late_epoch``)."""
    return bool(2 * late_share >= 1)


def pair_differences(pairs: pd.DataFrame) -> np.ndarray:
    """Each pair's difference in the claim's direction: β = 1 − β = 0, and for claim 7 β = 0 − β*."""
    return np.where(pairs["claim"] == 7, pairs["x0"] - pairs["xs"], pairs["x1"] - pairs["x0"])


def holm_within(families, p_values) -> np.ndarray:
    """Holm-adjusted p-values within each family (``families``: one label per test)."""
    codes, _ = pd.factorize(np.asarray(families))
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    for code in np.unique(codes):
        mine = np.flatnonzero(codes == code)
        adjusted[mine] = stats.holm(p[mine])
    return adjusted


def verdicts(table: pd.DataFrame, size: str, alpha: float) -> list[str]:
    """Each test's verdict from its family (``holm_family``), ``p_holm``, the sign of ``direction``
    and ``criterion_met``. A test whose design cannot reach ``alpha`` after Holm (the number of
    tests in its family × the smallest p of its ``size`` seeds or units, Holm's first step) is
    "insufficient data"; rows marked ``not_applicable`` are "n/a"."""
    codes, families = pd.factorize(table["holm_family"])
    tested = np.bincount(codes, weights=table["p_exact"].notna(), minlength=len(families))
    smallest = [stats.min_attainable_p(int(n)) for n in table[size].fillna(0)]
    reach = np.maximum(tested[codes], 1) * np.asarray(smallest)
    skip = table["not_applicable"] if "not_applicable" in table else [False] * len(table)
    return [
        "n/a" if na else verdict(p, d, met, r, alpha)
        for na, p, d, met, r in zip(
            skip,
            table["p_holm"],
            np.sign(table["direction"].fillna(0)),
            table["criterion_met"],
            reach,
        )
    ]


def verdict(p_holm, direction, criterion_met, reach: float, alpha: float) -> str:
    """A verdict from an adjusted p, the sign of the effect and the criterion."""
    if not reach < alpha or (isinstance(p_holm, float) and np.isnan(p_holm)):
        return "insufficient data"
    if p_holm >= alpha or direction == 0:
        return "not significant"
    if direction < 0:
        return "contradicted"
    met = isinstance(criterion_met, (bool, np.bool_)) and bool(criterion_met)
    return "supported" if met else "not significant"


def combine(verdicts: list[str]) -> str:
    """A setting's (or a claim's) verdict from its primary endpoints: they must all agree."""
    unique = set(verdicts)
    if unique == {"n/a"}:
        return "n/a"
    unique.discard("n/a")
    if "insufficient data" in unique:
        return "insufficient data"
    if len(unique) == 1:
        return unique.pop()
    return "not significant"  # endpoints disagree
