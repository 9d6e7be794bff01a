"""Paper-level tables: summaries over seeds of the per-experiment tables, and paired tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .analysis import SETTING_KEYS

GROUP = SETTING_KEYS + ["selection"]


def sem(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")


def summarise(frame: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean, SEM and seed count of each metric per group."""
    grouped = frame.groupby(by, dropna=False)
    parts = {}
    for metric in metrics:
        if metric in frame:
            parts[f"{metric}_mean"] = grouped[metric].mean()
            parts[f"{metric}_sem"] = grouped[metric].agg(sem)
    parts["seeds"] = grouped["seed"].nunique()
    return pd.DataFrame(parts).reset_index()


def paired_test(frame: pd.DataFrame, metric: str, beta_a: float = 0.0, beta_b: float = 1.0,
                by: list[str] = GROUP) -> pd.DataFrame:
    """Per group: metric(β_b) − metric(β_a) paired by seed; mean, SD, n and t-test p-values.

    ``p_greater`` is one-sided (β_b larger), ``p_less`` one-sided (β_b smaller).
    """
    rows = []
    for key, group in frame.groupby(by, dropna=False):
        a = group[group["beta"] == beta_a].set_index("seed")[metric]
        b = group[group["beta"] == beta_b].set_index("seed")[metric]
        seeds = a.index.intersection(b.index)
        diff = (b.loc[seeds] - a.loc[seeds]).dropna()
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        row.update({
            "metric": metric, "beta_a": beta_a, "beta_b": beta_b,
            "mean_a": float(a.loc[seeds].mean()), "mean_b": float(b.loc[seeds].mean()),
            "diff_mean": float(diff.mean()) if len(diff) else float("nan"),
            "diff_sd": float(diff.std(ddof=1)) if len(diff) > 1 else float("nan"),
            "n": int(len(diff)),
            "wins_b": int((diff > 0).sum()),
        })
        if len(diff) > 1 and diff.std(ddof=1) > 0:
            row["p_greater"] = float(stats.ttest_1samp(diff, 0.0, alternative="greater").pvalue)
            row["p_less"] = float(stats.ttest_1samp(diff, 0.0, alternative="less").pvalue)
        elif len(diff) > 1:  # identical differences: the limit of the t-test
            row["p_greater"] = 0.0 if diff.iloc[0] > 0 else 1.0
            row["p_less"] = 0.0 if diff.iloc[0] < 0 else 1.0
        else:
            row["p_greater"] = row["p_less"] = float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def beta_sweep(runs: pd.DataFrame) -> pd.DataFrame:
    return summarise(
        runs, GROUP + ["beta"],
        ["test_error", "test_L_ens", "test_DIV", "test_learner_error", "train_L_ens", "gen_gap", "val_L_ens"],
    )


def independent_vs_joint(runs: pd.DataFrame) -> pd.DataFrame:
    """β = 0 vs β = 1 on the test set: error (1 − accuracy, or MSE) and ensemble loss."""
    error = paired_test(runs, "test_error")
    loss = paired_test(runs, "test_L_ens")[GROUP + ["mean_a", "mean_b", "p_greater"]]
    loss = loss.rename(columns={"mean_a": "L_ens_beta0", "mean_b": "L_ens_beta1", "p_greater": "L_ens_p"})
    error = error.rename(columns={"mean_a": "error_beta0", "mean_b": "error_beta1", "p_greater": "error_p"})
    table = error[GROUP + ["n", "error_beta0", "error_beta1", "error_p"]].merge(loss, on=GROUP)
    if "test_acc5" in runs and runs["test_acc5"].notna().any():  # top-5, where there are > 5 classes
        top5 = paired_test(runs.dropna(subset=["test_acc5"]), "test_acc5")[GROUP + ["mean_a", "mean_b"]]
        table = table.merge(top5.rename(columns={"mean_a": "top5_acc_beta0", "mean_b": "top5_acc_beta1"}),
                            on=GROUP, how="left")
    return table


def debias_summary(debias: pd.DataFrame) -> pd.DataFrame:
    return summarise(debias, GROUP + ["beta"], ["DIV", "DIV_debiased", "DIV_decrease_pct"])


def dropout_summary(dropout: pd.DataFrame) -> pd.DataFrame:
    return summarise(dropout, GROUP + ["beta", "fraction"], ["full_error", "dropout_error", "increase"])


def gengap_summary(runs: pd.DataFrame) -> pd.DataFrame:
    return summarise(runs, GROUP + ["beta"], ["train_L_ens", "test_L_ens", "gen_gap"])


def divergence_summary(divergence: pd.DataFrame) -> pd.DataFrame:
    if divergence.empty:
        return pd.DataFrame(columns=SETTING_KEYS + ["beta", "seed", "status", "epochs", "final_train_DIV", "final_train_objective"])
    last = divergence.sort_values("epoch").groupby(SETTING_KEYS + ["beta", "seed"], dropna=False).tail(1)
    return last.rename(columns={
        "epoch": "epochs", "train_DIV": "final_train_DIV", "train_objective": "final_train_objective",
    })[SETTING_KEYS + ["beta", "seed", "status", "epochs", "final_train_DIV", "final_train_objective"]]


def write_table(frame: pd.DataFrame, stem: str, digits: int = 4) -> None:
    """Write ``stem``.csv, .md and .tex."""
    frame.to_csv(f"{stem}.csv", index=False)
    rounded = frame.round(digits)
    with open(f"{stem}.md", "w") as handle:
        handle.write(markdown(rounded))
    with open(f"{stem}.tex", "w") as handle:
        handle.write(rounded.to_latex(index=False, float_format=f"%.{digits}g"))


def markdown(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table."""
    if frame.empty:
        return "(no rows)\n"
    cells = [[str(c) for c in frame.columns]] + [
        ["" if pd.isna(v) else str(v) for v in row] for row in frame.itertuples(index=False)
    ]
    lines = ["| " + " | ".join(row) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("---" for _ in frame.columns) + "|")
    return "\n".join(lines) + "\n"
