"""The paper's claims, each tested on the runs: measured effect, paired tests, computed verdicts.

``build(runs, debias, learner_dropout, gen_gap, alpha, primary_selection="best_val")`` goes from
the tidy analysis tables (collusion.analysis) to two tables, declared once below:

- ``rows`` (results/paper/claims.csv, columns ``ROW_COLUMNS``): one row per (claim, setting,
  selection, endpoint): the per-seed paired values of one setting, described with t-based 95 %
  intervals and tested with the exact sign-flip test, Holm within the claim across settings;
- ``pooled`` (results/paper/claims_pooled.csv, columns ``POOLED_COLUMNS``): one row per (claim,
  endpoint, selection, level, group): the claim's test over all its settings at once (level
  ``all``; the primary test of the claim) and, secondary, over the settings of one dataset or one
  model (levels ``dataset``, ``model``).

Inference, declared before any data (docs/paper.md, "How the claims are decided"):

- A setting's values are paired over the seeds where both compared β finished, signed so that the
  claim's direction is positive (β = 1 − β = 0; claim 7: an extreme − β*).
- **Claim level (primary).** A stratified sign-flip test over every (setting, seed) pair of the
  claim's settings (``stats.pooled_sign_flip``: each setting scaled by its root mean square; the
  settings that share a seed's β = 0 learners flip together). Holm over the claims' primary tests
  (one per claim and primary endpoint at the primary selection); a claim is supported when each of
  its primary endpoints is. Per-dataset and per-model families are secondary (Holm within each).
- **Per setting (descriptive).** Mean difference with its t-based 95 % interval (it exists from two
  seeds); exact sign-flip p, Holm within the claim across settings (as before); a setting verdict.
- **Effect-size criteria** hold when the 95 % interval of the effect lies beyond the threshold:
  per setting the t interval (a ratio of means by Fieller's method: the r at which the paired
  t-test of β1 − r·β0 does not reject); at claim level the pooled sign-flip test of the criterion's
  contrast (β1 − r·β0, β1 − m or difference − m) rejects in the claim's direction, Holm over the
  family's criteria.
- **Verdicts**: supported, contradicted, not significant, insufficient data (the design cannot
  reach the level after Holm: family size × smallest attainable p ≥ alpha), n/a.
- **Stability**: every row's verdict recomputed with each seed left out of the whole table
  (claim 7 keeps its β*); a verdict that changes in any of them is fragile.
- **Under-training**: a row (a selection other than the last epoch) whose selected epoch lies in
  the last 10 % of the budget for at least half its seeds is flagged. The budget is the run's
  recipe epochs (runs.csv ``budget``), or B for a selection named ``<rule>@B`` (selection restricted
  to the first B epochs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sp

from . import stats
from .analysis import RUN_KEYS, SETTING_KEYS, matched_gen_gap
from .tables import GROUP, finished

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
    return float(selection.split("@")[1]) if "@" in selection else budget


def selects_at_end(selection: str) -> bool:
    """The last epoch is at the end of the budget by definition: never flagged under-trained."""
    return selection.split("@")[0] == "last"


# -- the paired values: one row per (claim, endpoint, setting, selection, seed) -----------------


def prepare(runs, debias, dropout, gen_gap) -> tuple[dict, list[Endpoint]]:
    """The frames the endpoints read (β ≤ 1, with each run's status, selected epoch and budget)
    and the per-fraction learner-dropout endpoints (secondary)."""
    runs = runs[runs["beta"] <= 1].copy()
    if "budget" not in runs:  # run tables written before the column existed
        runs["budget"] = np.nan
    if "test_learner_error" in runs:
        runs["learner_gap"] = np.where(
            runs["aggregation"] == "regression",
            np.nan,
            100.0 * (runs["test_learner_error"] - runs["test_error"]),
        )
    if gen_gap is not None and len(gen_gap):
        matched = matched_gen_gap(gen_gap, runs)
        runs = runs.merge(matched, on=RUN_KEYS + ["selection"], how="left")
    context = runs[RUN_KEYS + ["selection", "status", "epoch", "budget"]]

    def with_context(frame):
        frame = frame[frame["beta"] <= 1].drop(
            columns=["status", "epoch", "budget"], errors="ignore"
        )
        return frame.merge(context, on=RUN_KEYS + ["selection"], how="left")

    by = RUN_KEYS + ["selection"]
    extra = []
    if dropout.empty:
        cost = pd.DataFrame(columns=by + ["increase"])
    else:
        cost = dropout.groupby(by, dropna=False)["increase"].mean().reset_index()
        for fraction in sorted(dropout["fraction"].unique()):
            column = f"increase@{fraction:g}"
            part = dropout[dropout["fraction"] == fraction].set_index(by)["increase"]
            cost = cost.merge(part.rename(column).reset_index(), on=by, how="left")
            extra.append(
                Endpoint(
                    5,
                    f"dropout_increase@{fraction:g}",
                    column,
                    f"test error increase when dropping {fraction:g} of the learners",
                    source="learner_dropout",
                    criterion=RATIO_3,
                )
            )
    frames = {"runs": runs, "debias": with_context(debias), "learner_dropout": with_context(cost)}
    return frames, extra


def endpoint_pairs(frame: pd.DataFrame, endpoint: Endpoint) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pairs, rows): the per-seed values at β = 0 and 1 over the seeds where both finished, and
    one row per setting and selection (with its diverged count, or n/a where it does not apply)."""
    if endpoint.column not in frame or frame.empty:
        return pd.DataFrame(), pd.DataFrame()
    applies = frame["aggregation"].map(endpoint.applies)
    rows = frame[GROUP].drop_duplicates()
    rows = rows[rows["aggregation"].map(endpoint.applies) | bool(endpoint.na_note)]
    rows = rows.assign(claim=endpoint.claim, endpoint=endpoint.name)
    rows["not_applicable"] = ~rows["aggregation"].map(endpoint.applies)
    compared = frame[applies & frame["beta"].isin([0.0, 1.0])]
    diverged = compared[compared["status"] == "diverged"].groupby(GROUP).size()
    rows = rows.merge(diverged.rename("n_diverged").reset_index(), on=GROUP, how="left")
    rows["n_diverged"] = rows["n_diverged"].fillna(0).astype(int)
    rows["note"] = np.where(rows["not_applicable"], endpoint.na_note, endpoint.description)
    done = finished(compared).dropna(subset=[endpoint.column])
    values = done.set_index([*GROUP, "seed", "beta"])[[endpoint.column, endpoint.epoch, "budget"]]
    wide = values.unstack("beta")
    if wide.empty or not {0.0, 1.0} <= set(wide.columns.get_level_values("beta")):
        return pd.DataFrame(), rows
    both = wide[endpoint.column][[0.0, 1.0]].notna().all(axis=1)
    wide = wide[both]
    pairs = pd.DataFrame(
        {
            "x0": wide[(endpoint.column, 0.0)],
            "x1": wide[(endpoint.column, 1.0)],
            "epoch": wide[endpoint.epoch][[0.0, 1.0]].max(axis=1),
            "budget": wide[("budget", 0.0)],
        }
    ).reset_index()
    return pairs.assign(claim=endpoint.claim, endpoint=endpoint.name), rows


def intermediate_pairs(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Claim 7: per setting the intermediate β* of lowest mean validation value (over the seeds
    that finished), and per seed its test value beside both extremes' (x0, xs, x1)."""
    pairs, rows = [], []
    for key, group in runs.groupby(GROUP, dropna=False):
        key = dict(zip(GROUP, key))
        done = finished(group)
        inner = sorted(b for b in done["beta"].unique() if 0 < b < 1)
        for name, test_col, val_col, tasks in CLAIM7_ENDPOINTS:
            if task_of(key["aggregation"]) not in tasks:
                continue
            row = {**key, "claim": 7, "endpoint": name, "not_applicable": not inner}
            compared = group[group["beta"].isin([0.0, 1.0, *inner])]
            row["n_diverged"] = int((compared["status"] == "diverged").sum())
            rows.append(row)
            if not inner:
                row["note"] = "no intermediate β in the grid"
                continue
            best = float(done[done["beta"].isin(inner)].groupby("beta")[val_col].mean().idxmin())
            row["note"] = (
                f"β*={best:g} (lowest mean {val_col} of the intermediate β); diff = β=0 − β*; "
                "effect = the smaller of β=0 − β* and β=1 − β*; p = the larger of the two tests "
                "when both go the same way, else 1"
            )
            chosen = done[done["beta"].isin([0.0, best, 1.0])].dropna(subset=[test_col])
            wide = chosen.pivot_table(index="seed", columns="beta", values=[test_col, "epoch"])
            if not {0.0, best, 1.0} <= set(wide[test_col].columns):
                continue
            wide = wide[wide[test_col][[0.0, best, 1.0]].notna().all(axis=1)]
            budget = group["budget"].iloc[0] if "budget" in group else np.nan
            for seed, values in wide.iterrows():
                pairs.append(
                    {
                        **key,
                        "claim": 7,
                        "endpoint": name,
                        "seed": seed,
                        "x0": values[(test_col, 0.0)],
                        "xs": values[(test_col, best)],
                        "x1": values[(test_col, 1.0)],
                        "epoch": values["epoch"][[0.0, best, 1.0]].max(),
                        "budget": budget,
                    }
                )
    return pd.DataFrame(pairs), pd.DataFrame(rows)


def paired_values(runs, debias, dropout, gen_gap) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Every endpoint's paired values (one row per claim, endpoint, setting, selection and seed:
    x0, x1, for claim 7 also xs, the selected epoch and the budget) and every row's description
    (n_diverged, n/a, note); with the endpoints by (claim, name)."""
    frames, extra = prepare(runs, debias, dropout, gen_gap)
    endpoints = {(e.claim, e.name): e for e in ENDPOINTS + extra}
    parts = [endpoint_pairs(frames[e.source], e) for e in endpoints.values()]
    parts.append(intermediate_pairs(frames["runs"]))
    pairs = pd.concat([p for p, _ in parts if len(p)] or [pd.DataFrame(columns=PAIR)])
    pairs = pairs.reindex(columns=PAIR).reset_index(drop=True)
    described = pd.concat([r for _, r in parts if len(r)], ignore_index=True)
    pairs["diff"] = np.where(
        pairs["claim"] == 7, pairs["x0"] - pairs["xs"], pairs["x1"] - pairs["x0"]
    )
    budget = np.array([budget_of(s, b) for s, b in zip(pairs["selection"], pairs["budget"])])
    late = (pairs["epoch"].to_numpy(dtype=float) > (1 - LATE_SHARE) * budget).astype(float)
    pairs["late"] = np.where(np.isfinite(budget), late, np.nan)
    described = add_context(described, frames["runs"])
    return pairs, described, endpoints


def add_context(described: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Context that is not part of the test: claim 1's trend over the sweep, claim 2's test loss."""
    done = finished(runs)
    trend = {
        key: sp.spearmanr(group["beta"], group["test_error"]).statistic
        if group["beta"].nunique() > 1
        else np.nan
        for key, group in done.groupby(GROUP, dropna=False)
    }
    both = done[done["beta"].isin([0.0, 1.0])].groupby([*GROUP, "beta"])["test_L_ens"].mean()
    notes = []
    for row in described.to_dict("records"):
        key, note = tuple(row[k] for k in GROUP), row["note"]
        if row["claim"] == 1 and row["endpoint"] == "test_error" and key in trend:
            note += f"; Spearman ρ(β, test error) over the sweep = {trend[key]:.2f}"
        if row["claim"] == 2 and row["endpoint"] == "test_DIV" and (*key, 1.0) in both:
            note += f"; test L_ens {both[(*key, 0.0)]:.4g} → {both[(*key, 1.0)]:.4g} (claim 1)"
        notes.append(note)
    return described.assign(note=notes)


# -- per setting ---------------------------------------------------------------------------------


def describe(block: dict, endpoint: Endpoint | None) -> dict:
    """One row's statistics from its paired values (arrays by PAIR's names; ``endpoint`` None:
    claim 7)."""
    x0, x1, d, late = block["x0"], block["x1"], block["diff"], block["late"]
    n = len(d)
    row = {
        "n_seeds": n,
        "beta0_mean": x0.mean() if n else np.nan,
        "beta1_mean": x1.mean() if n else np.nan,
        "diff_mean": d.mean() if n else np.nan,
        "diff_sd": d.std(ddof=1) if n > 1 else np.nan,
        "p_exact": stats.sign_flip_test(d),
        "p_t": stats.paired_t_test(d),
        "late_seeds": int(np.nansum(late)),
        "budget": np.nanmax(block["budget"]) if np.isfinite(block["budget"]).any() else np.nan,
        "seeds": ";".join(str(int(s)) for s in block["seed"]),
        "per_seed": ";".join(f"{v:.6g}" for v in d),
    }
    row["ci_low"], row["ci_high"] = stats.t_interval(d)
    row["under_trained"] = (
        bool(2 * row["late_seeds"] >= n) if n and not np.isnan(late).any() else None
    )
    if endpoint is None:  # claim 7: β* against both extremes, an intersection–union test
        other = x1 - block["xs"]
        same_way = n and np.sign(d.mean()) == np.sign(other.mean()) != 0
        p_other = stats.sign_flip_test(other)
        row["p_exact"] = max(row["p_exact"], p_other) if same_way else (1.0 if n else np.nan)
        p_t = stats.paired_t_test(other)
        row["p_t"] = max(row["p_t"], p_t) if same_way else (1.0 if n > 1 else np.nan)
        smaller = d if not n or d.mean() <= other.mean() else other
        row["effect"] = smaller.mean() if n else np.nan
        row["effect_low"], row["effect_high"] = stats.t_interval(smaller)
        row["threshold"], row["criterion_met"] = NO_CRITERION, True
        return row
    criterion = endpoint.criterion
    if criterion is None:
        row.update(effect=row["diff_mean"], effect_low=row["ci_low"], effect_high=row["ci_high"])
        row["threshold"], row["criterion_met"] = NO_CRITERION, True
        return row
    if n:
        row["effect"], row["effect_low"], row["effect_high"] = criterion.effect(x0, x1)
    low = row.get("effect_low", np.nan)
    row["threshold"] = criterion.text
    row["criterion_met"] = None if np.isnan(low) else bool(low >= criterion.minimum)
    return row


def row_statistics(pairs: pd.DataFrame, described: pd.DataFrame, endpoints: dict) -> pd.DataFrame:
    """The rows table before adjustment: ``described`` with each row's statistics."""
    columns = {c: pairs[c].to_numpy(dtype=float) for c in ("x0", "x1", "xs", "diff", "late")}
    columns.update(budget=pairs["budget"].to_numpy(dtype=float), seed=pairs["seed"].to_numpy())
    stats_by_key = {
        key: describe({c: v[where] for c, v in columns.items()}, endpoints.get(key[:2]))
        for key, where in pairs.groupby(KEY, sort=False).indices.items()
    }
    records = []
    for row in described.to_dict("records"):
        key = tuple(row[k] for k in KEY)
        if row["not_applicable"]:
            records.append({**row, "verdict": "n/a"})
        else:
            records.append({**row, **stats_by_key.get(key, {"n_seeds": 0})})
    return pd.DataFrame(records)


def family_reach(table: pd.DataFrame, size_column: str, family: str = "holm_family") -> pd.Series:
    """Whether each row's test can reach the level after Holm: the smallest p its design can give,
    times the number of tests in its family (Holm's first step)."""
    size = table.groupby(family)["p_exact"].transform(lambda p: p.notna().sum()).clip(lower=1)
    smallest = table[size_column].fillna(0).astype(int).map(stats.min_attainable_p)
    return size * smallest


def verdict(p_holm, direction, criterion_met, reach: float, alpha: float) -> str:
    """A verdict from an adjusted p, the sign of the effect and the criterion."""
    if not reach < alpha or (isinstance(p_holm, float) and np.isnan(p_holm)):
        return "insufficient data"
    if p_holm >= alpha or direction == 0:
        return "not significant"
    if direction < 0:
        return "contradicted"
    return "supported" if criterion_met is True else "not significant"


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


def adjust_rows(table: pd.DataFrame, alpha: float, primary_selection: str) -> pd.DataFrame:
    """Holm families, adjusted p-values, verdicts and setting verdicts of the rows table."""
    table = table.copy()
    declared = is_primary_endpoint(table)
    table["primary"] = declared & (table["selection"] == primary_selection).to_numpy()
    table["holm_family"] = [
        f"claim {c} primary" if p else f"claim {c} {s} {e}"
        for c, p, s, e in zip(
            table["claim"], table["primary"], table["selection"], table["endpoint"]
        )
    ]
    table["p_holm"] = np.nan
    for index in table.groupby("holm_family").groups.values():
        table.loc[index, "p_holm"] = stats.holm(table.loc[index, "p_exact"].to_numpy(dtype=float))
    table["p_bh"] = stats.benjamini_hochberg(table["p_exact"].to_numpy(dtype=float))
    reach = family_reach(table, "n_seeds")
    table["verdict"] = [
        "n/a" if na else verdict(p, np.sign(d) if np.isfinite(d) else 0, met, r, alpha)
        for na, p, d, met, r in zip(
            table["not_applicable"],
            table["p_holm"],
            table["diff_mean"],
            table["criterion_met"],
            reach,
        )
    ]
    combined = (
        table[declared]
        .groupby(["claim", *GROUP], dropna=False)["verdict"]
        .agg(lambda v: combine(list(v)))
    )
    table["setting_verdict"] = [
        combined.get((r["claim"], *(r[k] for k in GROUP)), "") if flag else ""
        for r, flag in zip(table.to_dict("records"), declared)
    ]
    return table


# -- over settings -------------------------------------------------------------------------------


def pooled_test(part: pd.DataFrame, endpoint: Endpoint | None) -> dict:
    """One pooled row's tests from its pairs (with their ``setting`` and ``unit`` codes;
    ``endpoint`` None: claim 7)."""
    diff, x0, x1 = (part[c].to_numpy(dtype=float) for c in ("diff", "x0", "x1"))
    settings, units = part["setting"].to_numpy(), part["unit"].to_numpy()
    main = stats.pooled_sign_flip(diff, settings, units)
    row = {"settings": main["settings"], "units": main["units"], "pairs": main["pairs"]}
    row.update(z=main["z"], p_exact=main["p"], threshold=NO_CRITERION)
    if endpoint is None:  # claim 7: both extremes, intersection–union
        other = stats.pooled_sign_flip(x1 - part["xs"].to_numpy(dtype=float), settings, units)
        same = np.sign(main["z"]) == np.sign(other["z"]) != 0
        row["p_exact"] = max(main["p"], other["p"]) if same else 1.0
        row["z"] = min(main["z"], other["z"], key=abs) if same else 0.0
    elif endpoint.criterion is not None:
        test = stats.pooled_sign_flip(endpoint.criterion.contrast(x0, x1), settings, units)
        row.update(threshold=endpoint.criterion.text, criterion_z=test["z"], p_criterion=test["p"])
    _, index, count = np.unique(settings, return_inverse=True, return_counts=True)
    means = np.bincount(index, weights=diff) / count
    spread = np.bincount(index, weights=(diff - means[index]) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        dz = means / np.sqrt(spread / (count - 1))
    dz = dz[(count > 1) & (spread > 0)]
    row["settings_positive"] = f"{int((means > 0).sum())}/{len(means)}"
    row.update({f"dz_{name}": np.nan for name in ("min", "median", "max")})
    if len(dz):
        row.update(dz_min=dz.min(), dz_median=np.median(dz), dz_max=dz.max())
    return row


def pooled_rows(
    pairs: pd.DataFrame,
    rows: pd.DataFrame | None,
    endpoints: dict,
    alpha: float,
    primary_selection: str,
    levels=tuple(LEVELS),
) -> pd.DataFrame:
    """The claims' tests over settings: per (claim, endpoint, selection) over all settings and,
    for the primary endpoints, over each dataset's and each model's settings."""
    coded = pairs.assign(
        setting=pairs.groupby(SETTING_KEYS).ngroup(), unit=pairs.groupby(UNIT).ngroup()
    )
    rows = rows if rows is not None else pd.DataFrame(columns=[*KEY, "not_applicable"])
    tested = rows[~rows["not_applicable"].astype(bool)]
    tested = {key: part for key, part in tested.groupby(["claim", "endpoint", "selection"])}
    records = []
    for (claim, name, selection), block in coded.groupby(["claim", "endpoint", "selection"]):
        declared = name in primary_endpoints(claim)
        described = tested.get((claim, name, selection), rows.iloc[0:0])
        for level in levels if declared else ("all",):
            column = LEVELS[level]
            groups = [("all", block)] if column is None else block.groupby(column)
            for group, part in groups:
                mine = described if column is None else described[described[column] == group]
                flagged = (
                    int(mine["under_trained"].eq(True).sum()) if "under_trained" in mine else 0
                )
                records.append(
                    {
                        "claim": claim,
                        "endpoint": name,
                        "selection": selection,
                        "primary": declared and level == "all" and selection == primary_selection,
                        "level": level,
                        "group": group,
                        **pooled_test(part, endpoints.get((claim, name))),
                        "under_trained": f"{flagged}/{len(mine)}",
                        "note": f"{level} settings of claim {claim}"
                        + ("" if column is None else f" with {column} {group}"),
                    }
                )
    table = pd.DataFrame(records)
    if table.empty:
        return pd.DataFrame(columns=POOLED)
    return adjust_pooled(table, alpha)


def adjust_pooled(table: pd.DataFrame, alpha: float) -> pd.DataFrame:
    table = table.copy()
    if "p_criterion" not in table:
        table["p_criterion"] = np.nan
    table["holm_family"] = [
        f"{s} claims" if lvl == "all" and e in primary_endpoints(c) else f"{s} {lvl} claim {c} {e}"
        for s, lvl, c, e in zip(
            table["selection"], table["level"], table["claim"], table["endpoint"]
        )
    ]
    table["p_holm"] = np.nan
    table["p_criterion_holm"] = np.nan
    for index in table.groupby("holm_family").groups.values():
        for raw, adjusted in (("p_exact", "p_holm"), ("p_criterion", "p_criterion_holm")):
            table.loc[index, adjusted] = stats.holm(table.loc[index, raw].to_numpy(dtype=float))
    if "criterion_z" not in table:
        table["criterion_z"] = np.nan
    has_criterion = table["threshold"] != NO_CRITERION
    met = (table["p_criterion_holm"] < alpha) & (table["criterion_z"] > 0)
    table["criterion_met"] = np.where(has_criterion, met, True)
    reach = family_reach(table, "units")
    table["verdict"] = [
        verdict(p, np.sign(z), bool(m), r, alpha)
        for p, z, m, r in zip(table["p_holm"], table["z"], table["criterion_met"], reach)
    ]
    declared = is_primary_endpoint(table)
    combined = (
        table[declared]
        .groupby(["claim", "selection", "level", "group"])["verdict"]
        .agg(lambda v: combine(list(v)))
    )
    table["claim_verdict"] = [
        combined.get((r["claim"], r["selection"], r["level"], r["group"]), "") if flag else ""
        for r, flag in zip(table.to_dict("records"), declared)
    ]
    return table


# -- stability and the whole build ---------------------------------------------------------------


def leave_one_seed_out(
    pairs, described, endpoints, alpha, primary_selection, rows, pooled
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``fragile`` and ``loso`` of every row and of the claims' primary tests: the verdicts with
    each seed left out of the whole table (its Holm families recomputed; claim 7 keeps its β*)."""
    row_changes = {i: [] for i in rows.index}
    pooled_changes = {i: [] for i in pooled.index}
    primary = pooled[pooled["primary"]]
    for seed in sorted(pairs["seed"].unique()):
        kept = pairs[pairs["seed"] != seed]
        again = adjust_rows(row_statistics(kept, described, endpoints), alpha, primary_selection)
        again = again.set_index(KEY)["verdict"]
        for i, row in rows.iterrows():
            new = again.get(tuple(row[k] for k in KEY), "insufficient data")
            if new != row["verdict"]:
                row_changes[i].append(f"{seed}: {new}")
        if primary.empty:
            continue
        mine = kept[(kept["selection"] == primary_selection).to_numpy() & is_primary_endpoint(kept)]
        alone = pooled_rows(mine, rows, endpoints, alpha, primary_selection, levels=("all",))
        alone = alone[alone["primary"]].set_index(["claim", "endpoint"])["verdict"]
        for i, row in primary.iterrows():
            new = alone.get((row["claim"], row["endpoint"]), "insufficient data")
            if new != row["verdict"]:
                pooled_changes[i].append(f"{seed}: {new}")
    rows, pooled = rows.copy(), pooled.copy()
    rows["loso"] = [" ; ".join(row_changes[i]) for i in rows.index]
    rows["fragile"] = rows["loso"] != ""
    pooled["loso"] = [" ; ".join(pooled_changes[i]) for i in pooled.index]
    pooled["fragile"] = np.where(pooled["primary"], pooled["loso"] != "", None)
    return rows, pooled


@dataclass
class ClaimsTables:
    rows: pd.DataFrame  # results/paper/claims.csv (ROW_COLUMNS)
    pooled: pd.DataFrame  # results/paper/claims_pooled.csv (POOLED_COLUMNS)
    primary_selection: str


def build(
    runs: pd.DataFrame,
    debias: pd.DataFrame,
    learner_dropout: pd.DataFrame,
    gen_gap: pd.DataFrame | None,
    alpha: float,
    primary_selection: str = "best_val",
) -> ClaimsTables:
    """The claims tables from the tidy analysis tables of the unmitigated experiments.

    ``runs``, ``debias``, ``learner_dropout``: results/tables/<experiment>/{runs, debias,
    learner_dropout}.csv concatenated (any selections; rows of one selection are compared with
    each other only); ``gen_gap``: the gen_gap.csv tables (per-epoch losses, for claim 3 at a
    matched epoch; None leaves that endpoint out). ``alpha``: the significance level.
    ``primary_selection``: the selection whose rows are primary (e.g. ``best_val@30``, the best
    validation epoch among the first 30, for a budget study); every other selection is secondary.
    Returns the per-setting rows and the pooled (claim-level) tests, verdicts included.
    """
    pairs, described, endpoints = paired_values(runs, debias, learner_dropout, gen_gap)
    rows = adjust_rows(row_statistics(pairs, described, endpoints), alpha, primary_selection)
    below = (rows["verdict"] == "not significant") & (rows["p_holm"] < alpha)
    below &= rows["criterion_met"].ne(True)
    rows.loc[below, "note"] += (
        "; significant, but the effect-size interval does not clear the criterion"
    )
    flagged = rows["under_trained"].eq(True) & ~rows["selection"].map(selects_at_end)
    rows.loc[flagged, "note"] += (
        "; under-trained: the selected epoch lies in the last 10 % of the budget for "
        + rows.loc[flagged, "late_seeds"].astype(int).astype(str)
        + " of "
        + rows.loc[flagged, "n_seeds"].astype(int).astype(str)
        + " seeds"
    )
    rows["under_trained"] = np.where(
        rows["selection"].map(selects_at_end), None, rows["under_trained"]
    )
    pooled = pooled_rows(pairs, rows, endpoints, alpha, primary_selection)
    rows, pooled = leave_one_seed_out(
        pairs, described, endpoints, alpha, primary_selection, rows, pooled
    )
    order = ["claim", "primary", *GROUP]
    rows = rows.reindex(columns=COLUMNS).sort_values(
        order, ascending=[c != "primary" for c in order], kind="stable"
    )
    pooled = pooled.reindex(columns=POOLED).sort_values(
        ["primary", "selection", "level", "claim", "endpoint", "group"],
        ascending=[False, True, True, True, True, True],
        key=lambda c: c.map({"all": 0, "dataset": 1, "model": 2}) if c.name == "level" else c,
        kind="stable",
    )
    return ClaimsTables(
        rows.reset_index(drop=True), pooled.reset_index(drop=True), primary_selection
    )
