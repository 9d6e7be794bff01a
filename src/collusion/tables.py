"""Paper-level tables: summaries over seeds of the per-experiment tables, and paired tests."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from . import stats

# GROUP and finished live in analysis: the claims read them there, and this module's budget
# builder imports the claims
from .analysis import GROUP, SETTING_KEYS, finished  # noqa: F401 (part of this module's interface)


def sem(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")


def summarise(frame: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean, SEM and seed count of each metric per group, over the runs that finished; the
    diverged runs left out are counted (``diverged``) where the frame has a status."""
    kept = finished(frame)
    grouped = kept.groupby(by, dropna=False)
    parts = {}
    for metric in metrics:
        if metric in frame:
            parts[f"{metric}_mean"] = grouped[metric].mean()
            parts[f"{metric}_sem"] = grouped[metric].agg(sem)
    parts["seeds"] = grouped["seed"].nunique()
    table = pd.DataFrame(parts)
    if "status" in frame:
        diverged = frame[frame["status"] == "diverged"].groupby(by, dropna=False)["seed"].nunique()
        every = frame.groupby(by, dropna=False)["seed"].nunique()
        table = table.reindex(every.index)
        table["seeds"] = table["seeds"].fillna(0).astype(int)
        table["diverged"] = diverged.reindex(every.index).fillna(0).astype(int)
    return table.reset_index()


def paired_test(
    frame: pd.DataFrame,
    metric: str,
    beta_a: float = 0.0,
    beta_b: float = 1.0,
    by: list[str] = GROUP,
) -> pd.DataFrame:
    """Per group: metric(β_b) − metric(β_a) paired by seed over the seeds where both runs finished.

    Mean at each β, paired mean difference, its SD, n, the diverged runs left out, the two-sided
    exact sign-flip p (``p_exact``), the two-sided paired t p (``p_t``) and the 95 % CI of the mean
    difference (sign-flip inversion; see collusion.stats).
    """
    compared = frame[frame["beta"].isin([beta_a, beta_b])]
    kept = finished(compared).dropna(subset=[metric])
    wide = kept.pivot_table(index=[*by, "seed"], columns="beta", values=metric, aggfunc="first")
    diverged = (
        compared.groupby(by, dropna=False).size()
        - finished(compared).groupby(by, dropna=False).size()
    )
    blocks = {}
    if {beta_a, beta_b} <= set(wide.columns):
        for key, block in wide[[beta_a, beta_b]].dropna().groupby(level=list(range(len(by)))):
            blocks[key if isinstance(key, tuple) else (key,)] = block.droplevel(
                list(range(len(by)))
            )
    rows = []
    for key in frame.groupby(by, dropna=False).groups:
        key = key if isinstance(key, tuple) else (key,)
        both = blocks.get(key, pd.DataFrame(columns=[beta_a, beta_b], dtype=float))
        diff = both[beta_b] - both[beta_a]
        row = dict(zip(by, key))
        row.update(
            {
                "metric": metric,
                "beta_a": beta_a,
                "beta_b": beta_b,
                "mean_a": float(both[beta_a].mean()),
                "mean_b": float(both[beta_b].mean()),
                "n": len(diff),
                "n_diverged": int(diverged.get(key, 0)),
                "wins_b": int((diff > 0).sum()),
                "seeds": ";".join(str(int(s)) for s in both.index),
                "per_seed": ";".join(f"{v:.6g}" for v in diff),
            }
        )
        summary = stats.paired_summary(diff.to_numpy(dtype=float))
        summary.pop("n_seeds")
        row.update(summary)
        rows.append(row)
    return pd.DataFrame(rows)


# calibration.csv's test metrics that the sweep and diversity tables summarise (analysis.calibration_table)
CALIBRATION_METRICS = ["ece", "brier", "nll", "disagreement"]
WOOD_METRICS = ["wood_bias", "wood_variance", "wood_diversity"]


def with_status(calibration: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """calibration.csv rows with each run's status from the runs table (so that the diverged runs
    are left out and counted as everywhere else)."""
    status = runs[GROUP + ["beta", "seed", "status"]].drop_duplicates(GROUP + ["beta", "seed"])
    return calibration.drop(columns=["status"], errors="ignore").merge(
        status, on=GROUP + ["beta", "seed"], how="left"
    )


def _add_summary(
    table: pd.DataFrame, calibration: pd.DataFrame | None, runs: pd.DataFrame, metrics: list[str]
) -> pd.DataFrame:
    """``table`` (one row per GROUP + β) with the mean and SEM of calibration's ``metrics``."""
    if calibration is None:
        return table
    extra = summarise(with_status(calibration, runs), GROUP + ["beta"], metrics)
    extra = extra.drop(columns=[c for c in ("seeds", "diverged") if c in extra])
    return table.merge(extra, on=GROUP + ["beta"], how="left")


def beta_sweep(runs: pd.DataFrame, calibration: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per setting, selection and β: mean and SEM over seeds of the sweep metrics and, from
    ``calibration`` (calibration.csv), the test ECE, Brier score, NLL, pairwise disagreement and
    Wood et al.'s bias, variance and diversity."""
    table = summarise(
        runs,
        GROUP + ["beta"],
        [
            "test_error",
            "test_L_ens",
            "test_DIV",
            "test_learner_error",
            "train_L_ens",
            "gen_gap",
            "val_L_ens",
        ],
    )
    return _add_summary(table, calibration, runs, CALIBRATION_METRICS + WOOD_METRICS)


def diversity(runs: pd.DataFrame, calibration: pd.DataFrame) -> pd.DataFrame:
    """The two diversity decompositions side by side, per setting, selection and β (mean and SEM
    over seeds, test set): the paper's Jensen gap (``test_L_ind`` − ``test_L_ens`` = ``test_DIV``)
    and Wood et al.'s bias, variance and diversity (geometric-mean combiner for cross-entropy),
    with the pairwise disagreement of the learners' predicted classes."""
    table = summarise(runs, GROUP + ["beta"], ["test_L_ens", "test_L_ind", "test_DIV"])
    return _add_summary(table, calibration, runs, WOOD_METRICS + ["disagreement"])


def independent_vs_joint(runs: pd.DataFrame) -> pd.DataFrame:
    """β = 0 vs β = 1 on the test set: error (1 − accuracy, or MSE) and ensemble loss, paired over
    the seeds where both finished, with two-sided exact sign-flip p-values."""
    error = paired_test(runs, "test_error")
    loss = paired_test(runs, "test_L_ens")[GROUP + ["mean_a", "mean_b", "p_exact"]]
    loss = loss.rename(
        columns={"mean_a": "L_ens_beta0", "mean_b": "L_ens_beta1", "p_exact": "L_ens_p_exact"}
    )
    error = error.rename(
        columns={"mean_a": "error_beta0", "mean_b": "error_beta1", "p_exact": "error_p_exact"}
    )
    table = error[GROUP + ["n", "n_diverged", "error_beta0", "error_beta1", "error_p_exact"]].merge(
        loss, on=GROUP
    )
    if (
        "test_acc5" in runs and runs["test_acc5"].notna().any()
    ):  # top-5, where there are > 5 classes
        top5 = paired_test(runs.dropna(subset=["test_acc5"]), "test_acc5")[
            GROUP + ["mean_a", "mean_b"]
        ]
        table = table.merge(
            top5.rename(columns={"mean_a": "top5_acc_beta0", "mean_b": "top5_acc_beta1"}),
            on=GROUP,
            how="left",
        )
    return table


def debias_summary(debias: pd.DataFrame) -> pd.DataFrame:
    return summarise(debias, GROUP + ["beta"], ["DIV", "DIV_debiased", "DIV_decrease_pct"])


def learner_dropout_summary(dropout: pd.DataFrame) -> pd.DataFrame:
    return summarise(
        dropout, GROUP + ["beta", "fraction"], ["full_error", "dropout_error", "increase"]
    )


def gen_gap_summary(runs: pd.DataFrame) -> pd.DataFrame:
    return summarise(runs, GROUP + ["beta"], ["train_L_ens", "test_L_ens", "gen_gap"])


def divergence_summary(divergence: pd.DataFrame) -> pd.DataFrame:
    """One row per β > 1 run: status, epochs run, final train DIV and objective, and how many runs
    of its setting and β diverged (``diverged_in_setting`` of ``runs_in_setting``)."""
    columns = SETTING_KEYS + [
        "beta",
        "seed",
        "status",
        "epochs",
        "final_train_DIV",
        "final_train_objective",
        "diverged_in_setting",
        "runs_in_setting",
    ]
    if divergence.empty:
        return pd.DataFrame(columns=columns)
    last = (
        divergence.sort_values("epoch")
        .groupby(SETTING_KEYS + ["beta", "seed"], dropna=False)
        .tail(1)
    )
    last = last.rename(
        columns={
            "epoch": "epochs",
            "train_DIV": "final_train_DIV",
            "train_objective": "final_train_objective",
        }
    )
    setting = last.groupby(SETTING_KEYS + ["beta"], dropna=False)["status"]
    last["diverged_in_setting"] = setting.transform(
        lambda status: int((status == "diverged").sum())
    )
    last["runs_in_setting"] = setting.transform("size")
    return last[columns]


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


# --- paper tables added for the figures (issue 11); the registry is collusion.figures.PAPER_TABLES


def pseudo_diversity(runs: pd.DataFrame) -> pd.DataFrame:
    """Train vs test DIV at the selected checkpoint: mean, SD and seed count of train DIV, test DIV
    and their ratio train/test, per setting, selection and β (completed runs only)."""
    runs = finished(runs).dropna(subset=["train_DIV", "test_DIV"])
    runs = runs.assign(DIV_train_test_ratio=runs["train_DIV"] / runs["test_DIV"])
    grouped = runs.groupby(GROUP + ["beta"], dropna=False)
    parts = {}
    for metric in ("train_DIV", "test_DIV", "DIV_train_test_ratio"):
        parts[f"{metric}_mean"] = grouped[metric].mean()
        parts[f"{metric}_sd"] = grouped[metric].std(ddof=1)
    parts["seeds"] = grouped["seed"].nunique()
    return pd.DataFrame(parts).reset_index()


def ensemble_size(runs: pd.DataFrame, studies: dict[str, list[str]]) -> pd.DataFrame:
    """Test error vs ensemble size M for each size study, its own runs plus the same model and
    aggregation's runs of its partner experiments (at sizes the study does not train itself);
    mean, SD, SEM and seed count per (study, model, aggregation, selection, M, β)."""
    columns = [
        "study",
        "experiment",
        "dataset",
        "model",
        "aggregation",
        "members",
        "selection",
        "beta",
        "test_error_mean",
        "test_error_sd",
        "test_error_sem",
        "seeds",
    ]
    parts = []
    for study, partners in studies.items():
        own = runs[runs["experiment"] == study]
        shared = runs[
            runs["experiment"].isin(partners)
            & runs["model"].isin(own["model"].unique())
            & runs["aggregation"].isin(own["aggregation"].unique())
            & ~runs["members"].isin(own["members"].unique())
        ]
        parts.append(pd.concat([own, shared]).assign(study=study))
    if not parts:
        return pd.DataFrame(columns=columns)
    pooled = finished(pd.concat(parts, ignore_index=True))
    grouped = pooled.groupby(
        ["study", "experiment", "dataset", "model", "aggregation", "members", "selection", "beta"]
    )
    table = grouped["test_error"].agg(
        test_error_mean="mean", test_error_sd="std", test_error_sem=sem
    )
    table["seeds"] = grouped["seed"].nunique()
    return table.reset_index()[columns]


HTML_STYLE = (
    "body{font-family:sans-serif;font-size:13px;margin:8px}"
    "table{border-collapse:collapse;margin-bottom:16px}"
    "th,td{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}"
    "th{background:#f3f3f3;position:sticky;top:0}"
)


def html_fragment(frame: pd.DataFrame, digits: int = 4) -> str:
    if frame.empty:
        return "<p>(no rows)</p>"
    return frame.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.{digits}g}", border=0)


def html_page(title: str, body: str) -> str:
    """A self-contained HTML page (what the report shows inline)."""
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{HTML_STYLE}</style></head><body><h3>{html.escape(title)}</h3>{body}</body></html>\n"
    )


def html_table(frame: pd.DataFrame, title: str, digits: int = 4) -> str:
    return html_page(title, html_fragment(frame, digits))


def claims_view(claims: pd.DataFrame) -> pd.DataFrame:
    """The claims table as the report shows it: primary endpoints first, then by claim and setting."""
    if "primary" not in claims:
        return claims
    primary = claims["primary"].astype(str).str.strip().str.lower().isin(["true", "1", "1.0"])
    order = claims.assign(_primary=~primary).sort_values(["_primary", "claim"], kind="stable")
    return order.drop(columns="_primary")


def run_summary(
    config: dict, provenances: list[tuple[str, dict]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What was run: per experiment its grid and how many runs completed or diverged; and the code
    versions (commit, dirty flag, torch, device) the runs' provenance records, with run counts.
    ``provenances``: (experiment, provenance.json contents) per run."""
    runs = pd.DataFrame(
        [
            {
                "experiment": experiment,
                "status": record.get("outcome", {}).get("status", "unknown"),
                "commit": record.get("code", {}).get("commit", "unknown"),
                "dirty": record.get("code", {}).get("dirty"),
                "torch": record.get("packages", {}).get("torch"),
                "device": record.get("device"),
            }
            for experiment, record in provenances
        ]
    )
    experiments = []
    for name, experiment in config["experiments"].items():
        mine = runs[runs["experiment"] == name] if len(runs) else runs
        experiments.append(
            {
                "experiment": name,
                "dataset": experiment["dataset"],
                "models": ", ".join(experiment["models"]),
                "aggregations": ", ".join(experiment["aggregations"]),
                "M": ", ".join(map(str, experiment["ensemble_sizes"])),
                "β": ", ".join(f"{b:g}" for b in experiment["betas"]),
                "seeds": len(experiment["seeds"]),
                "recipe": f"{experiment['recipe']}: {config['recipes'][experiment['recipe']]}",
                "completed": int((mine["status"] == "completed").sum()) if len(mine) else 0,
                "diverged": int((mine["status"] == "diverged").sum()) if len(mine) else 0,
            }
        )
    code = (
        runs.groupby(["commit", "dirty", "torch", "device"], dropna=False)
        .size()
        .rename("runs")
        .reset_index()
        if len(runs)
        else pd.DataFrame(columns=["commit", "dirty", "torch", "device", "runs"])
    )
    return pd.DataFrame(experiments), code


# --- capacity and size (issue 15): where collusion starts to cost accuracy

CAPACITY_COLUMNS = [
    "experiment",
    "dataset",
    "model",
    "width",
    "aggregation",
    "members",
    "selection",
    "n",
    "n_diverged",
    "error_beta0",
    "error_beta1",
    "diff_mean",
    "ci_low",
    "ci_high",
    "wins_b",
    "p_exact",
    "p_holm",
    "DIV_beta0",
    "DIV_beta1",
    "DIV_ratio",
    "learner_gap_beta0",
    "learner_gap_beta1",
    "late_beta0",
    "late_beta1",
    "under_trained",
    "per_seed",
    "seeds",
    "verdict",
]


def capacity(
    runs: pd.DataFrame, studies: dict[str, dict[str, int]], alpha: float = 0.05
) -> pd.DataFrame:
    """The cost of joint training over member width × ensemble size, for each capacity study
    (experiment -> {model: width}; collusion.figures.capacity_studies).

    Per (study, model, aggregation, M, selection): test error at β = 0 and β = 1 and their paired
    difference over the seeds where both finished (mean, 95 % CI, ``wins_b`` = seeds where β = 1 is
    worse, two-sided exact sign-flip p), ``p_holm`` adjusted over the cells of one map (study,
    aggregation, selection); the mean test DIV at both β and its ratio β1/β0; the learners'
    mean test error minus the ensemble's (``learner_gap``) at both β; the share of the finished
    runs whose selected epoch lies in the last 10 % of the budget at both β (``late_beta0``,
    ``late_beta1``; empty for ``last``, which selects the end by definition) and whether the cell
    is ``under_trained`` by the claims' rule (at least half at either β; collusion.claims_spec);
    and the cell's ``verdict`` at level ``alpha``: joint training "helps", "hurts" or "neither"
    (collusion.capacity).
    """
    from .capacity import verdict
    from .claims_spec import budget_of, late_epoch, selects_at_end, under_trained

    parts = []
    for experiment, widths in studies.items():
        own = runs[(runs["experiment"] == experiment) & runs["model"].isin(list(widths))]
        parts.append(own.assign(width=own["model"].map(widths)))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if frame.empty:
        return pd.DataFrame(columns=CAPACITY_COLUMNS)
    by = GROUP + ["width"]
    table = paired_test(frame, "test_error", by=by).rename(
        columns={"mean_a": "error_beta0", "mean_b": "error_beta1"}
    )
    table["p_holm"] = table.groupby(["experiment", "aggregation", "selection"])[
        "p_exact"
    ].transform(lambda p: pd.Series(stats.holm(p.to_numpy()), index=p.index))
    kept = finished(frame[frame["beta"].isin([0.0, 1.0])])
    late = [
        np.nan if selects_at_end(selection) else float(late_epoch(epoch, budget_of(selection, b)))
        for selection, epoch, b in zip(kept["selection"], kept["epoch"], kept["budget"])
    ]
    kept = kept.assign(
        learner_gap=kept["test_learner_error"] - kept["test_error"], late=np.array(late, float)
    )
    columns = ["test_DIV", "learner_gap", "late"]
    means = kept.groupby(by + ["beta"])[columns].mean().unstack("beta")
    extra = (
        pd.DataFrame(
            {
                "DIV_beta0": means[("test_DIV", 0.0)],
                "DIV_beta1": means[("test_DIV", 1.0)],
                "learner_gap_beta0": means[("learner_gap", 0.0)],
                "learner_gap_beta1": means[("learner_gap", 1.0)],
                "late_beta0": means[("late", 0.0)],
                "late_beta1": means[("late", 1.0)],
            }
        ).reset_index()
        if {0.0, 1.0} <= set(kept["beta"])
        else pd.DataFrame(columns=by)
    )
    table = table.merge(extra, on=by, how="left")
    table["DIV_ratio"] = table["DIV_beta1"] / table["DIV_beta0"]
    table["under_trained"] = [
        None if np.isnan(a) and np.isnan(b) else under_trained(np.nanmax([a, b]))
        for a, b in zip(table["late_beta0"], table["late_beta1"], strict=True)
    ]
    table["verdict"] = [
        verdict(d, p, alpha) for d, p in zip(table["diff_mean"], table["p_holm"], strict=True)
    ]
    return table.sort_values(["experiment", "aggregation", "selection", "width", "members"])[
        CAPACITY_COLUMNS
    ]


FLIP_COLUMNS = [
    "experiment",
    "dataset",
    "aggregation",
    "members",
    "selection",
    "widths",
    "n_seeds",
    "flip_width",
    "flip_low",
    "flip_high",
    "flip",
    "interval",
    "censored_below",
    "censored_above",
    "verdicts",
]


def capacity_flip(
    runs: pd.DataFrame, studies: dict[str, dict[str, int]], alpha: float = 0.05
) -> pd.DataFrame:
    """The member width at which joint training's effect on test error turns from helping to
    hurting, per capacity study, aggregation, M and selection (collusion.capacity.flip_width):
    the interpolated zero crossing of the mean paired difference over log2 width (``flip_width``;
    0 / inf where censored below the narrowest / above the widest width) with its 95 % bootstrap
    interval over the seeds that have a difference at every width (``flip_low``–``flip_high``;
    ``censored_below`` / ``censored_above``: the share of resamples censored), ``flip`` and
    ``interval`` as text, and the cells' verdicts from narrow to wide (capacity's ``verdict``)."""
    from . import capacity as capacity_axis

    cells = capacity(runs, studies, alpha)
    rows = []
    keys = ["experiment", "dataset", "aggregation", "members", "selection"]
    for key, frame in cells.groupby(keys):
        frame = frame.sort_values("width")
        widths = frame["width"].tolist()
        per_width = [
            dict(zip(str(s).split(";"), map(float, str(d).split(";"))))
            if isinstance(d, str) and d
            else {}
            for s, d in zip(frame["seeds"], frame["per_seed"])
        ]
        seeds = sorted(set.intersection(*(set(p) for p in per_width)), key=int)
        matrix = np.array([[p[s] for p in per_width] for s in seeds]).reshape(len(seeds), -1)
        if len(widths) < 2:
            continue
        flip = capacity_axis.flip_width(widths, matrix)
        low, high = (capacity_axis.describe(flip[k], widths) for k in ("flip_low", "flip_high"))
        rows.append(
            {
                **dict(zip(keys, key)),
                "widths": ";".join(f"{w:g}" for w in widths),
                **flip,
                "flip": capacity_axis.describe(flip["flip_width"], widths),
                "interval": f"[{low}, {high}]",
                "verdicts": ";".join(frame["verdict"]),
            }
        )
    return pd.DataFrame(rows, columns=FLIP_COLUMNS)


# --- Wood et al.'s bias / variance / diversity over trials (wood.py)

WOOD_COLUMNS = [
    *GROUP,
    "beta",
    "training_sets",
    "trials",
    "bias",
    "variance",
    "variance_sem",
    "diversity",
    "diversity_sem",
    "expected_member_loss",
    "expected_ensemble_loss",
    "expected_ensemble_loss_sem",
]


def wood_decomposition(calibration: pd.DataFrame) -> pd.DataFrame:
    """Wood et al.'s decomposition per setting, selection and β, over its trials: the seeds whose
    runs share one test set (calibration.csv's ``wood_bias`` is set). ``bias`` (bias plus noise),
    ``variance`` and ``diversity`` (means over the trials, with their SEM), the expected member loss
    ``bias + variance`` and the expected ensemble loss, the trials' mean, which equals
    ``bias + variance − diversity``. ``training_sets``: ``independent draws`` where the dataset holds
    independently drawn training sets (catalog.DATASET_DRAWS; seed k trains on draw k), else
    ``one`` (the trials differ in initialisation and batch order only)."""
    from .data.catalog import DATASET_DRAWS

    frame = calibration.dropna(subset=["wood_bias"])
    if frame.empty:
        return pd.DataFrame(columns=WOOD_COLUMNS)
    grouped = frame.groupby(GROUP + ["beta"])
    table = pd.DataFrame(
        {
            "trials": grouped["seed"].nunique(),
            "bias": grouped["wood_bias"].first(),
            "variance": grouped["wood_variance"].mean(),
            "variance_sem": grouped["wood_variance"].agg(sem),
            "diversity": grouped["wood_diversity"].mean(),
            "diversity_sem": grouped["wood_diversity"].agg(sem),
            "expected_ensemble_loss": grouped["wood_ensemble_loss"].mean(),
            "expected_ensemble_loss_sem": grouped["wood_ensemble_loss"].agg(sem),
        }
    ).reset_index()
    table["expected_member_loss"] = table["bias"] + table["variance"]
    table["training_sets"] = np.where(
        table["dataset"].isin(list(DATASET_DRAWS)), "independent draws", "one"
    )
    return table.sort_values(GROUP + ["beta"])[WOOD_COLUMNS].reset_index(drop=True)


def budget(*frames: pd.DataFrame, **options) -> pd.DataFrame:
    """The budget study: every primary verdict at each budget (collusion.budget.budget_table)."""
    from .budget import budget_table  # budget imports claims, which imports this module

    return budget_table(*frames, **options)
