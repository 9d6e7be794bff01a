"""Does mitigation X recover β = 1's loss? Each mitigation experiment against its unmitigated
baseline (config key ``baseline``), with the claims' machinery: paired over seeds, exact sign-flip
test, Holm within the family, 95 % CI, a stated effect criterion and a computed verdict.

results/paper/mitigation_claims.csv has one row per (mitigation experiment, setting, β, selection,
endpoint, comparison); the columns are ``COLUMNS``. The two comparisons, each signed so that the
question's direction is positive:

    recovery        unmitigated(β) − mitigated(β), paired by seed: > 0, the mitigation lowers the
                    endpoint. Criterion: at least half of β's cost recovered, effect = diff_mean /
                    (unmitigated(β) − unmitigated(0)) over the same seeds
    remaining cost  mitigated(β) − unmitigated(β = 0): > 0, still worse than independent training
                    (significance only)

Row verdicts as in collusion.claims (``verdicts``). Holm families: each comparison's primary rows
(test error at best_val, every mitigation, setting and β) form one; every other (comparison,
selection, endpoint) is its own. The answer of a (mitigation, setting, β, selection, endpoint),
from its two rows: "recovers" (recovery supported, no significant remaining cost), "recovers, beats
β = 0" (remaining cost contradicted), "partly recovers" (recovery supported, cost remains), "worse"
(recovery contradicted), "no recovery shown", or "insufficient data".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import stats
from .claims import holm_within, task_of, verdicts
from .claims_report import format_cell
from .claims_spec import NO_CRITERION
from .tables import finished, markdown

SETTING = ["dataset", "model", "aggregation", "members"]
COMPARISONS = ("recovery", "remaining cost")
# (name, runs-table column, classification only, primary)
ENDPOINTS = [
    ("test_error", "test_error", False, True),
    ("test_nll", "test_L_ens", True, False),
    ("test_DIV", "test_DIV", False, False),
]
RECOVERED_HALF = 0.5
CRITERION = f"recovery ≥ {RECOVERED_HALF:.0%} of β's cost (unmitigated β − β=0)"
COLUMNS = [
    "experiment",
    "baseline",
    "mitigation",
    *SETTING,
    "beta",
    "selection",
    "endpoint",
    "comparison",
    "primary",
    "n_seeds",
    "mitigated_mean",
    "reference_mean",
    "diff_mean",
    "diff_sd",
    "ci_low",
    "ci_high",
    "effect",
    "threshold",
    "criterion_met",
    "p_exact",
    "p_t",
    "p_holm",
    "holm_family",
    "verdict",
    "answer",
    "n_diverged",
    "seeds",
    "per_seed",
    "note",
]


def by_seed(frame: pd.DataFrame, column: str) -> pd.Series:
    return finished(frame).dropna(subset=[column]).set_index("seed")[column]


def comparison_row(
    mitigated: pd.Series, reference: pd.Series, recovery: bool, cost: pd.Series | None
) -> dict:
    seeds = mitigated.index.intersection(reference.index).sort_values()
    diff = (
        (reference[seeds] - mitigated[seeds]) if recovery else (mitigated[seeds] - reference[seeds])
    )
    row = stats.paired_summary(diff.to_numpy(dtype=float))
    row.update(
        mitigated_mean=float(mitigated[seeds].mean()),
        reference_mean=float(reference[seeds].mean()),
        seeds=";".join(str(int(s)) for s in seeds),
        per_seed=";".join(f"{v:.6g}" for v in diff),
    )
    if recovery:
        paid = (
            cost[cost.index.intersection(seeds)].mean()
            if cost is not None and len(cost)
            else np.nan
        )
        row["effect"] = row["diff_mean"] / paid if paid > 0 else np.nan
        row["criterion_met"] = (
            bool(row["effect"] >= RECOVERED_HALF) if np.isfinite(row["effect"]) else None
        )
        row["threshold"] = CRITERION
        row["note"] = f"β's cost unmitigated (β − β=0): {paid:.4g}" + (
            "" if paid > 0 else "; no cost to recover here"
        )
    else:
        row.update(
            effect=row["diff_mean"],
            criterion_met=True,
            threshold=NO_CRITERION,
            note="mitigated β − unmitigated β=0",
        )
    return row


def mitigation_rows(runs: pd.DataFrame, mitigations: dict[str, dict], alpha: float) -> pd.DataFrame:
    """Every row of the mitigation questions. ``mitigations``: experiment -> {"baseline": its
    unmitigated experiment, "mitigation": a label} (collusion.pipeline.mitigation_experiments)."""
    rows = []
    for experiment, about in mitigations.items():
        mine = runs[runs["experiment"] == experiment]
        base = runs[runs["experiment"] == about["baseline"]]
        for key, group in mine.groupby(SETTING + ["selection", "beta"], dropna=False):
            *setting, selection, beta = key
            if not 0 < beta <= 1:
                continue
            same = (base[SETTING + ["selection"]] == [*setting, selection]).all(axis=1)
            unmitigated, zero = (
                base[same & (base["beta"] == beta)],
                base[same & (base["beta"] == 0)],
            )
            n_diverged = int((group["status"] == "diverged").sum()) if "status" in group else 0
            for name, column, classification_only, primary in ENDPOINTS:
                if classification_only and task_of(setting[2]) != "classification":
                    continue
                cost = by_seed(unmitigated, column).sub(by_seed(zero, column)).dropna()
                for comparison in COMPARISONS:
                    recovery = comparison == "recovery"
                    reference = unmitigated if recovery else zero
                    row = comparison_row(
                        by_seed(group, column), by_seed(reference, column), recovery, cost
                    )
                    rows.append(
                        {
                            "experiment": experiment,
                            "baseline": about["baseline"],
                            "mitigation": about["mitigation"],
                            **dict(zip(SETTING, setting)),
                            "beta": beta,
                            "selection": selection,
                            "endpoint": name,
                            "comparison": comparison,
                            "primary": primary and selection == "best_val",
                            "n_diverged": n_diverged,
                            **row,
                        }
                    )
    table = pd.DataFrame(
        rows,
        columns=[c for c in COLUMNS if c not in ("p_holm", "holm_family", "verdict", "answer")],
    )
    table["holm_family"] = [
        f"{r['comparison']} primary"
        if r["primary"]
        else f"{r['comparison']} {r['selection']} {r['endpoint']}"
        for r in table.to_dict("records")
    ]
    table["p_holm"] = holm_within(table["holm_family"], table["p_exact"])
    table["verdict"] = verdicts(table.assign(direction=table["diff_mean"]), "n_seeds", alpha)
    table["answer"] = answers(table)
    return table.reindex(columns=COLUMNS).reset_index(drop=True)


def answer(recovery: str, cost: str) -> str:
    if "insufficient data" in (recovery, cost):
        return "insufficient data"
    if recovery == "contradicted":
        return "worse"
    if recovery != "supported":
        return "no recovery shown"
    return {"supported": "partly recovers", "contradicted": "recovers, beats β = 0"}.get(
        cost, "recovers"
    )


def answers(table: pd.DataFrame) -> list[str]:
    keys = ["experiment", *SETTING, "beta", "selection", "endpoint"]
    verdicts = table.set_index([*keys, "comparison"])["verdict"]
    out = []
    for r in table.to_dict("records"):
        key = tuple(r[k] for k in keys)
        out.append(
            answer(verdicts.get((*key, "recovery"), ""), verdicts.get((*key, "remaining cost"), ""))
        )
    return out


def headline(table: pd.DataFrame, selection: str = "best_val") -> pd.DataFrame:
    """Per mitigation, setting and β: the answer on test error with both comparisons."""
    chosen = table[(table["endpoint"] == "test_error") & (table["selection"] == selection)]
    out = []
    for key, group in chosen.groupby(
        ["experiment", "mitigation", *SETTING, "beta"], sort=False, dropna=False
    ):
        parts = group.set_index("comparison")
        row = dict(zip(["experiment", "mitigation", *SETTING, "beta"], key))
        row["answer"] = parts["answer"].iloc[0]
        row["n_seeds"] = int(parts["n_seeds"].min())
        for comparison in COMPARISONS:
            if comparison in parts.index:
                r = parts.loc[comparison]
                row[comparison] = (
                    f"{r['diff_mean']:.4g} [{r['ci_low']:.3g}, {r['ci_high']:.3g}], "
                    f"p_holm {r['p_holm']:.3g}: {r['verdict']}"
                )
        recovery = parts.loc["recovery"] if "recovery" in parts.index else None
        shared = recovery is not None and np.isfinite(recovery["effect"])
        row["share recovered"] = f"{recovery['effect']:.0%}" if shared else ""
        out.append(row)
    return pd.DataFrame(out)


def write_section(table: pd.DataFrame, md_path: str, alpha: float) -> None:
    """Append the mitigation section to the claims report."""
    with open(md_path, "a") as handle:
        handle.write("\n## Mitigations: does mitigation X recover β = 1's loss?\n\n")
        if table.empty:
            handle.write(
                "No mitigation experiment in this configuration (an experiment with a `baseline`: "
                "config/README.md; config/open_questions.yaml has them).\n"
            )
            return
        handle.write(
            "Each mitigation experiment against its unmitigated baseline, paired by seed (the same initial "
            "learners and minibatches). **recovery** = unmitigated(β) − mitigated(β) (> 0: the mitigation "
            f"lowers it; criterion: {CRITERION}); **remaining cost** = mitigated(β) − unmitigated(β = 0) "
            "(> 0: still worse than independent training). Two-sided exact sign-flip tests, 95 % CI by "
            "inversion, Holm within each comparison's primary family (test error at best_val over every "
            f"mitigation, setting and β); verdicts at p_holm < {alpha}. The answer: recovers (recovery "
            "supported, no significant remaining cost), partly recovers (cost remains), no recovery shown, "
            "worse, insufficient data. Primary endpoint: test error at best_val; test NLL, test DIV and the "
            "last epoch are secondary.\n\n### Headline: test error, best_val\n\n"
        )
        handle.write(markdown(headline(table, "best_val").map(format_cell)))
        handle.write("\n### Secondary: test error at the last epoch\n\n")
        handle.write(markdown(headline(table, "last").map(format_cell)))
        handle.write("\n### Every row\n\n")
        detail = table[
            [
                "experiment",
                "mitigation",
                "model",
                "aggregation",
                "members",
                "beta",
                "selection",
                "endpoint",
                "comparison",
                "primary",
                "n_seeds",
                "mitigated_mean",
                "reference_mean",
                "diff_mean",
                "ci_low",
                "ci_high",
                "effect",
                "p_exact",
                "p_holm",
                "verdict",
                "answer",
            ]
        ]
        handle.write(markdown(detail.map(format_cell)))
