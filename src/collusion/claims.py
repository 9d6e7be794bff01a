"""The paper's claims, each tested on the runs: measured effect, paired test, computed verdict.

results/paper/claims.csv has one row per (claim, setting, selection, endpoint) with these columns
(the contract other modules, e.g. the figures, rely on; extra columns may be added, never removed):

    claim          int 1..7
    experiment, dataset, model, aggregation, members      the setting
    selection      "best_val" (the authors' rule: lowest validation ensemble loss) | "last"
    endpoint       short name: test_error, test_nll, test_DIV, gen_gap, DIV_removed_pct, ...
    primary        bool: the claim's pre-declared primary endpoint (only best_val rows)
    n_seeds        seeds paired (both compared β finished, i.e. did not diverge)
    beta0_mean, beta1_mean   means of the endpoint at the two compared β
    diff_mean      paired mean difference, signed so that the claim's direction is positive
    ci_low, ci_high          95 % confidence interval of diff_mean
    effect         the effect-size statistic the criterion uses
    threshold      the effect-size criterion, as text (e.g. "ratio ≥ 3"); empty when none
    p_exact        exact paired sign-flip permutation test, two-sided
    p_t            paired t-test, two-sided
    p_holm         Holm-adjusted within the claim across its settings
    p_bh           Benjamini–Hochberg over the whole table
    verdict        "supported" | "contradicted" | "not significant" | "n/a" | "insufficient data"
    n_diverged     runs of the compared β left out because they diverged
    per_seed       the per-seed paired differences, ';'-separated (seed:value)
    note           free text

A column may be empty where it does not apply (n/a rows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .tables import GROUP, markdown, paired_test

CLAIMS = {
    1: "Joint training (β=1) generalises worse than independent training (β=0)",
    2: "Diversity explodes as β → 1 while test loss gets worse",
    3: "The generalisation gap (test − train ensemble loss) is larger for joint training",
    4: "Debiasing removes most of the joint ensemble's diversity, little of the independent one's",
    5: "Learners become codependent: dropping learners costs far more at β=1",
    6: "At β=1 learners are individually far worse than their ensemble",
    7: "Some intermediate β beats both β=0 and β=1 (v1 only)",
}


def verdict(p_paper: float, p_opposite: float, alpha: float, extra_ok: bool = True) -> str:
    if np.isnan(p_paper) and np.isnan(p_opposite):
        return "insufficient data"
    if p_paper < alpha:
        return "supported" if extra_ok else "partly supported"
    if p_opposite < alpha:
        return "contradicted"
    return "not significant"


def _rows(tests: pd.DataFrame, claim: int, effect: str, direction: str, alpha: float, extra=None) -> list[dict]:
    """Turn paired tests (β=1 − β=0) into claim rows; ``direction`` is the paper's: greater/less."""
    rows = []
    for _, test in tests.iterrows():
        p_paper = test["p_greater"] if direction == "greater" else test["p_less"]
        p_opposite = test["p_less"] if direction == "greater" else test["p_greater"]
        extra_ok, note = extra(test) if extra else (True, "")
        rows.append({
            "claim": claim, **{key: test[key] for key in GROUP},
            "effect": effect, "beta0": test["mean_a"], "beta1": test["mean_b"],
            "diff_mean": test["diff_mean"], "diff_sd": test["diff_sd"], "seeds": test["n"],
            "p_value": p_paper, "verdict": verdict(p_paper, p_opposite, alpha, extra_ok), "note": note,
        })
    return rows


def claim_rows(runs: pd.DataFrame, debias: pd.DataFrame, dropout: pd.DataFrame, alpha: float) -> pd.DataFrame:
    runs = runs[runs["beta"] <= 1]
    rows: list[dict] = []

    # 1. test error at β=1 vs β=0, plus the trend over the whole sweep
    trend = {
        key: stats.spearmanr(group["beta"], group["test_error"], nan_policy="omit").statistic
        for key, group in runs.groupby(GROUP, dropna=False)
    }
    rows += _rows(
        paired_test(runs, "test_error"), 1, "test error (1 − acc; MSE for regression)", "greater", alpha,
        lambda t: (True, f"Spearman ρ(β, error) over the sweep = {trend[tuple(t[k] for k in GROUP)]:.2f}"),
    )
    # 2. DIV grows, and the ensemble's test loss does not improve with it
    loss = paired_test(runs, "test_L_ens").set_index(GROUP)
    rows += _rows(
        paired_test(runs, "test_DIV"), 2, "test DIV", "greater", alpha,
        lambda t: (
            loss.loc[tuple(t[k] for k in GROUP), "p_greater"] < alpha,
            f"test L_ens {loss.loc[tuple(t[k] for k in GROUP), 'mean_a']:.4g} → "
            f"{loss.loc[tuple(t[k] for k in GROUP), 'mean_b']:.4g} "
            f"(p = {loss.loc[tuple(t[k] for k in GROUP), 'p_greater']:.3g}); supported needs both",
        ),
    )
    # 3. generalisation gap
    rows += _rows(paired_test(runs, "gen_gap"), 3, "test − train L_ens", "greater", alpha)
    # 4. debiasing: % of DIV removed, defined for raw-output averaging only
    applicable = debias.dropna(subset=["DIV_decrease_pct"])
    rows += _rows(
        paired_test(applicable, "DIV_decrease_pct"), 4, "% DIV removed by debiasing", "greater", alpha,
        lambda t: (t["mean_b"] >= 50, f"β=1 removes {t['mean_b']:.1f}% (supported needs ≥ 50%)"),
    )
    for key, _ in debias[debias["DIV_decrease_pct"].isna()].groupby(GROUP, dropna=False):
        rows.append({"claim": 4, **dict(zip(GROUP, key)), "effect": "% DIV removed by debiasing",
                     "verdict": "n/a", "note": "debiasing keeps the ensemble unchanged only for raw-output averaging"})
    # 5. learner dropout: mean increase of test error over the dropped fractions
    cost = dropout.groupby(GROUP + ["beta", "seed"], dropna=False)["increase"].mean().reset_index()
    rows += _rows(paired_test(cost, "increase"), 5, "error increase under learner dropout (mean over fractions)", "greater", alpha)
    # 6. learners vs their ensemble
    runs = runs.assign(learner_gap=runs["test_learner_error"] - runs["test_error"])
    rows += _rows(paired_test(runs, "learner_gap"), 6, "mean learner error − ensemble error (test)", "greater", alpha)
    # 7. intermediate β chosen on validation, compared on test with both extremes
    rows += intermediate_beta_rows(runs, alpha)
    return pd.DataFrame(rows)


def intermediate_beta_rows(runs: pd.DataFrame, alpha: float) -> list[dict]:
    rows = []
    for key, group in runs.groupby(GROUP, dropna=False):
        inner = group[(group["beta"] > 0) & (group["beta"] < 1)]
        base = {"claim": 7, **dict(zip(GROUP, key)), "effect": "test error: best intermediate β (chosen on val) vs both extremes"}
        if inner.empty:
            rows.append({**base, "verdict": "n/a", "note": "no intermediate β in the grid"})
            continue
        val = inner.assign(val_error=inner["val_error"]).groupby("beta")["val_error"].mean()
        best = float(val.idxmin())
        tests = [paired_test(group, "test_error", beta_a=best, beta_b=extreme) for extreme in (0.0, 1.0)]
        p_paper = max(t["p_greater"].iloc[0] for t in tests)  # better than both
        p_opposite = min(t["p_less"].iloc[0] for t in tests)
        rows.append({
            **base, "beta0": tests[0]["mean_b"].iloc[0], "beta1": tests[1]["mean_b"].iloc[0],
            "diff_mean": tests[0]["diff_mean"].iloc[0], "diff_sd": tests[0]["diff_sd"].iloc[0],
            "seeds": tests[0]["n"].iloc[0], "p_value": p_paper,
            "verdict": verdict(p_paper, p_opposite, alpha),
            "note": f"β*={best:g} (lowest mean val error) test error {tests[0]['mean_a'].iloc[0]:.4g}; "
                    "diff = error(β=0) − error(β*)",
        })
    return rows


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    out = []
    for claim, text in CLAIMS.items():
        claim_rows_ = rows[rows["claim"] == claim]
        applicable = claim_rows_[~claim_rows_["verdict"].isin(["n/a", "insufficient data"])]
        supported = applicable[applicable["verdict"] == "supported"]
        contradicted = applicable[applicable["verdict"] == "contradicted"]
        if applicable.empty:
            overall = "not tested"
        elif len(supported) == len(applicable):
            overall = "supported"
        elif len(supported):
            overall = "partly supported"
        elif len(contradicted):
            overall = "contradicted"
        else:
            overall = "not supported"

        def where(frame):
            return "; ".join(
                f"{r.experiment}/{r.model}/{r.aggregation} ({r.selection})" for r in frame.itertuples()
            ) or "—"

        out.append({
            "claim": claim, "statement": text, "verdict": overall,
            "supported_in": f"{len(supported)}/{len(applicable)}",
            "contradicted_in": f"{len(contradicted)}/{len(applicable)}",
            "where_supported": where(supported),
        })
    return pd.DataFrame(out)


def write_claims(rows: pd.DataFrame, csv_path: str, md_path: str, alpha: float) -> None:
    rows.to_csv(csv_path, index=False)
    table = summary(rows)
    detail = rows.copy()
    for column in ("beta0", "beta1", "diff_mean", "diff_sd", "p_value"):
        detail[column] = detail[column].map(lambda v: f"{v:.4g}" if pd.notna(v) else "")
    with open(md_path, "w") as handle:
        handle.write("# Claims of the paper, tested on this configuration's runs\n\n")
        handle.write(
            f"Generated from the run tables; never edited by hand. A verdict is 'supported' when the "
            f"paired difference over seeds (β=1 − β=0 unless stated) goes the paper's way with a "
            f"one-sided t-test p < {alpha}, 'contradicted' when it goes the other way as "
            f"significantly. Selections: best_val = the epoch of lowest validation ensemble loss "
            f"(the authors' rule); last = the final epoch.\n\n## Summary\n\n"
        )
        handle.write(markdown(table))
        handle.write("\n## Every setting\n\n")
        handle.write(markdown(detail[["claim", *GROUP, "effect", "beta0", "beta1", "diff_mean",
                                      "diff_sd", "seeds", "p_value", "verdict", "note"]]))
