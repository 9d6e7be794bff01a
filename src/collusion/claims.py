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
    per_seed       the per-seed paired differences, ';'-separated numbers (their seeds: column seeds)
    note           free text

A column may be empty where it does not apply (n/a rows). pandas reads "n/a" as missing by default:
read the table with ``pd.read_csv(path, keep_default_na=False, na_values=[""])``. Extra columns: criterion_met, diff_sd,
seeds (the paired seeds, ';'-separated, in per_seed's order), holm_family, setting_verdict.

Inference (collusion.stats): per row the paired differences over the seeds where both compared β
finished; a two-sided exact sign-flip test (all 2^n sign patterns for n ≤ 16, a seeded Monte-Carlo
estimate above) with the paired t-test beside it; the 95 % CI by inverting the sign-flip test.
Verdicts use p_holm < significance: "supported" when the difference goes the claim's way and the
effect-size criterion (if the claim has one) is met, "contradicted" when it goes the other way,
"not significant" otherwise (also when significant but below the criterion: criterion_met says so),
"insufficient data" when the seeds cannot reach significance at all (2/2^n > significance), "n/a"
where the claim does not apply. Holm families: a claim's primary rows (best_val, its primary
endpoints, every setting) form one family; each secondary (claim, selection, endpoint) is its own.
A setting supports a claim when every primary endpoint of the claim supports it (both test error
and test NLL for classification); the headline counts only primary rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sp

from . import stats
from .analysis import RUN_KEYS
from .tables import GROUP, finished, markdown, paired_test

CLAIMS = {
    1: "Joint training (β=1) generalises worse than independent training (β=0)",
    2: "Diversity explodes as β → 1 (yet test loss is worse: claim 1)",
    3: "The generalisation gap (test − train ensemble loss) is larger for joint training",
    4: "Debiasing removes most of the joint ensemble's diversity, little of the independent one's",
    5: "Learners become codependent: dropping learners costs far more at β=1",
    6: "At β=1 learners are individually far worse than their ensemble, over training",
    7: "Some intermediate β beats both β=0 and β=1 (v1 only)",
}
COLUMNS = [
    "claim",
    *GROUP,
    "endpoint",
    "primary",
    "n_seeds",
    "beta0_mean",
    "beta1_mean",
    "diff_mean",
    "ci_low",
    "ci_high",
    "effect",
    "threshold",
    "p_exact",
    "p_t",
    "p_holm",
    "p_bh",
    "verdict",
    "n_diverged",
    "per_seed",
    "note",
    "criterion_met",
    "diff_sd",
    "seeds",
    "holm_family",
    "setting_verdict",
]
NO_CRITERION = "none (significance only)"


@dataclass(frozen=True)
class Criterion:
    """An effect-size criterion for the claims that say "explodes", "most", "far more", "far worse".

    A ratio is of the β = 1 and β = 0 means over the paired seeds; it is +∞ when the β = 0 mean is
    ≤ 0 and the β = 1 mean positive (the significance test still has to hold).
    """

    statistic: (
        str  # "ratio" (β1 mean / β0 mean), "beta1" (β1 mean) or "diff" (paired mean difference)
    )
    minimum: float
    text: str

    def effect(self, beta0_mean: float, beta1_mean: float, diff_mean: float) -> float:
        if self.statistic == "ratio":
            if beta0_mean > 0:
                return beta1_mean / beta0_mean
            return math.inf if beta1_mean > 0 else float("nan")
        return beta1_mean if self.statistic == "beta1" else diff_mean


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
    tasks: tuple[str, ...] = ("classification", "regression")
    criterion: Criterion | None = None


# The pre-declared endpoints. Primary ones count in the headline, at selection best_val only.
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
    Endpoint(3, "gen_gap", "gen_gap", "test − train L_ens", primary=True),
    Endpoint(
        4,
        "DIV_removed_pct",
        "DIV_decrease_pct",
        "% of test DIV removed by debiasing",
        source="debias",
        primary=True,
        criterion=MOST_REMOVED,
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
CLAIM7_ENDPOINTS = [
    ("test_error", "test_error", "val_error", ("classification", "regression")),
    ("test_nll", "test_L_ens", "val_L_ens", ("classification",)),
]


def task_of(aggregation: str) -> str:
    return "regression" if aggregation == "regression" else "classification"


def setting_label(row) -> str:
    return f"{row['experiment']}/{row['model']}/{row['aggregation']}/M{int(row['members'])}"


def prepare(
    runs: pd.DataFrame, debias: pd.DataFrame, dropout: pd.DataFrame
) -> tuple[dict, list[Endpoint]]:
    """The frames the endpoints read (β ≤ 1; status joined from runs) and the per-fraction dropout
    endpoints (secondary)."""
    runs = runs[runs["beta"] <= 1].copy()
    if "test_learner_error" in runs:
        runs["learner_gap"] = np.where(
            runs["aggregation"] == "regression",
            np.nan,
            100.0 * (runs["test_learner_error"] - runs["test_error"]),
        )
    status = runs[RUN_KEYS + ["selection", "status"]] if "status" in runs else None

    def with_status(frame):
        frame = frame[frame["beta"] <= 1]
        if status is None or "status" in frame:
            return frame
        return frame.merge(status, on=RUN_KEYS + ["selection"], how="left")

    extra = []
    by = RUN_KEYS + ["selection"]
    cost = (
        dropout.groupby(by, dropna=False)["increase"].mean().rename("increase").reset_index()
        if not dropout.empty
        else pd.DataFrame(columns=by + ["increase"])
    )
    for fraction in sorted(dropout["fraction"].unique()) if not dropout.empty else []:
        column = f"increase@{fraction:g}"
        part = dropout[dropout["fraction"] == fraction].set_index(by)["increase"].rename(column)
        cost = cost.merge(part.reset_index(), on=by, how="left")
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
    frames = {"runs": runs, "debias": with_status(debias), "learner_dropout": with_status(cost)}
    return frames, extra


def base_row(claim: int, key: dict, endpoint: str, primary: bool, **values) -> dict:
    return {"claim": claim, **key, "endpoint": endpoint, "primary": primary, **values}


def endpoint_rows(frame: pd.DataFrame, endpoint: Endpoint) -> list[dict]:
    rows = []
    if endpoint.column not in frame or frame.empty:
        return rows
    applicable = frame[frame["aggregation"].map(task_of).isin(endpoint.tasks)]
    for test in paired_test(applicable, endpoint.column).to_dict("records"):
        key = {k: test[k] for k in GROUP}
        primary = endpoint.primary and key["selection"] == "best_val"
        criterion = endpoint.criterion
        if criterion:
            effect = criterion.effect(test["mean_a"], test["mean_b"], test["diff_mean"])
            met = bool(effect >= criterion.minimum) if not np.isnan(effect) else None
        else:
            effect, met = test["diff_mean"], True
        rows.append(
            base_row(
                endpoint.claim,
                key,
                endpoint.name,
                primary,
                n_seeds=test["n"],
                beta0_mean=test["mean_a"],
                beta1_mean=test["mean_b"],
                diff_mean=test["diff_mean"],
                diff_sd=test["diff_sd"],
                ci_low=test["ci_low"],
                ci_high=test["ci_high"],
                effect=effect,
                threshold=criterion.text if criterion else NO_CRITERION,
                criterion_met=met,
                p_exact=test["p_exact"],
                p_t=test["p_t"],
                n_diverged=test["n_diverged"],
                per_seed=test["per_seed"],
                seeds=test["seeds"],
                note=endpoint.description,
            )
        )
    return rows


def not_applicable(frame: pd.DataFrame, claim: int, endpoint: str, note: str, mask) -> list[dict]:
    rows = []
    for key, _ in frame[mask(frame)].groupby(GROUP, dropna=False):
        key = dict(zip(GROUP, key))
        rows.append(
            base_row(claim, key, endpoint, key["selection"] == "best_val", verdict="n/a", note=note)
        )
    return rows


def claim_rows(
    runs: pd.DataFrame, debias: pd.DataFrame, dropout: pd.DataFrame, alpha: float
) -> pd.DataFrame:
    """Every (claim, setting, selection, endpoint) row with its tests, adjusted p-values and verdict."""
    frames, extra = prepare(runs, debias, dropout)
    rows: list[dict] = []
    for endpoint in ENDPOINTS + extra:
        frame = frames[endpoint.source]
        if (
            endpoint.source == "debias"
        ):  # defined only where debiasing leaves the ensemble unchanged
            rows += not_applicable(
                frame,
                4,
                endpoint.name,
                "debiasing keeps the ensemble unchanged only for raw-output averaging",
                lambda f: f["aggregation"] == "probability",
            )
            frame = frame[frame["aggregation"] != "probability"]
        rows += endpoint_rows(frame, endpoint)
    rows += not_applicable(
        frames["runs"],
        6,
        "learner_gap_dynamics",
        "regression: L_ind − L_ens is test DIV, so this is claim 2 (not re-tested)",
        lambda f: f["aggregation"] == "regression",
    )
    rows += intermediate_beta_rows(frames["runs"])
    table = pd.DataFrame(rows)
    table = adjust(table)
    table = add_notes(table, frames["runs"])
    table["verdict"] = [row_verdict(row, alpha) for row in table.to_dict("records")]
    below = (
        (table["verdict"] == "not significant")
        & (table["p_holm"] < alpha)
        & table["criterion_met"].eq(False)
    )
    table.loc[below, "note"] += "; significant, but the effect-size criterion fails"
    table["setting_verdict"] = setting_verdicts(table)
    order = ["claim", "primary", *GROUP]
    table = table.reindex(columns=COLUMNS).sort_values(
        order, ascending=[c != "primary" for c in order], kind="stable"
    )
    return table.reset_index(drop=True)


def intermediate_beta_rows(runs: pd.DataFrame) -> list[dict]:
    rows = []
    for key, group in runs.groupby(GROUP, dropna=False):
        key = dict(zip(GROUP, key))
        task = task_of(key["aggregation"])
        done = finished(group)
        inner = sorted(b for b in done["beta"].unique() if 0 < b < 1)
        for name, test_col, val_col, tasks in CLAIM7_ENDPOINTS:
            if task not in tasks:
                continue
            primary = key["selection"] == "best_val"
            if not inner:
                rows.append(
                    base_row(
                        7, key, name, primary, verdict="n/a", note="no intermediate β in the grid"
                    )
                )
                continue
            best = float(done[done["beta"].isin(inner)].groupby("beta")[val_col].mean().idxmin())
            values = done[done["beta"].isin([0.0, best, 1.0])].pivot_table(
                index="seed", columns="beta", values=test_col
            )
            values = (
                values.dropna() if set(values.columns) >= {0.0, best, 1.0} else values.iloc[0:0]
            )
            d0 = (values[0.0] - values[best]).to_numpy() if len(values) else np.array([])
            d1 = (values[1.0] - values[best]).to_numpy() if len(values) else np.array([])
            s0, s1 = stats.paired_summary(d0), stats.paired_summary(d1)
            same_way = len(d0) and np.sign(d0.mean()) == np.sign(d1.mean()) != 0
            # intersection–union: better (or worse) than both extremes needs both tests
            p_exact = (
                max(s0["p_exact"], s1["p_exact"])
                if same_way
                else (1.0 if len(d0) else float("nan"))
            )
            p_t = max(s0["p_t"], s1["p_t"]) if same_way else (1.0 if len(d0) > 1 else float("nan"))
            compared = group[group["beta"].isin([0.0, best, 1.0])]
            rows.append(
                base_row(
                    7,
                    key,
                    name,
                    primary,
                    n_seeds=len(d0),
                    beta0_mean=float(values[0.0].mean()) if len(values) else float("nan"),
                    beta1_mean=float(values[1.0].mean()) if len(values) else float("nan"),
                    diff_mean=s0["diff_mean"],
                    diff_sd=s0["diff_sd"],
                    ci_low=s0["ci_low"],
                    ci_high=s0["ci_high"],
                    effect=float(min(d0.mean(), d1.mean())) if len(d0) else float("nan"),
                    threshold=NO_CRITERION,
                    criterion_met=True,
                    p_exact=p_exact,
                    p_t=p_t,
                    n_diverged=int(len(compared) - len(finished(compared))),
                    per_seed=";".join(f"{v:.6g}" for v in d0),
                    seeds=";".join(str(int(s)) for s in values.index),
                    note=(
                        f"β*={best:g} (lowest mean {val_col} of the intermediate β); diff = β=0 − β*; "
                        f"β=1 − β*: {s1['diff_mean']:.4g} (p_exact {s1['p_exact']:.3g}); effect = the smaller "
                        "of the two; p = the larger of the two tests when both go the same way, else 1"
                    ),
                )
            )
    return rows


def adjust(table: pd.DataFrame) -> pd.DataFrame:
    """Holm within each family of a claim; Benjamini–Hochberg over the whole table."""
    table = table.copy()
    table["holm_family"] = [
        f"claim {r['claim']} primary"
        if r["primary"]
        else f"claim {r['claim']} {r['selection']} {r['endpoint']}"
        for r in table.to_dict("records")
    ]
    table["p_holm"] = np.nan
    for index in table.groupby("holm_family").groups.values():
        table.loc[index, "p_holm"] = stats.holm(table.loc[index, "p_exact"].to_numpy(dtype=float))
    table["p_bh"] = stats.benjamini_hochberg(table["p_exact"].to_numpy(dtype=float))
    return table


def add_notes(table: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Context that is not part of the test: claim 1's trend over the sweep, claim 2's test loss."""
    done = finished(runs)
    trend = {
        key: sp.spearmanr(group["beta"], group["test_error"]).statistic
        if group["beta"].nunique() > 1
        else np.nan
        for key, group in done.groupby(GROUP, dropna=False)
    }
    loss = paired_test(runs, "test_L_ens").set_index(GROUP)
    notes = []
    for row in table.to_dict("records"):
        key = tuple(row[k] for k in GROUP)
        note = row["note"]
        if row["claim"] == 1 and row["endpoint"] == "test_error" and key in trend:
            note += f"; Spearman ρ(β, test error) over the sweep = {trend[key]:.2f}"
        if row["claim"] == 2 and row["endpoint"] == "test_DIV" and key in loss.index:
            note += f"; test L_ens {loss.loc[key, 'mean_a']:.4g} → {loss.loc[key, 'mean_b']:.4g} (claim 1)"
        notes.append(note)
    table["note"] = notes
    return table


def row_verdict(row: dict, alpha: float) -> str:
    if row.get("verdict") == "n/a":
        return "n/a"
    n = row["n_seeds"]
    if not n or np.isnan(row["p_exact"]) or stats.min_attainable_p(int(n)) > alpha:
        return "insufficient data"
    if row["p_holm"] >= alpha or row["diff_mean"] == 0:
        return "not significant"
    if row["diff_mean"] < 0:
        return "contradicted"
    return "supported" if row["criterion_met"] is True else "not significant"


def combine(verdicts: list[str]) -> str:
    """A setting's verdict from its primary endpoints: they must all agree."""
    unique = set(verdicts)
    if unique == {"n/a"}:
        return "n/a"
    if "insufficient data" in unique:
        return "insufficient data"
    if len(unique) == 1:
        return verdicts[0]
    return "not significant"  # endpoints disagree


def is_primary_endpoint(table: pd.DataFrame) -> np.ndarray:
    """Rows whose endpoint is one of their claim's primary endpoints (at either selection)."""
    declared = {(e.claim, e.name) for e in ENDPOINTS if e.primary} | {
        (7, n) for n, *_ in CLAIM7_ENDPOINTS
    }
    return np.array(
        [(c, e) in declared for c, e in zip(table["claim"], table["endpoint"])], dtype=bool
    )


def setting_verdicts(table: pd.DataFrame) -> list[str]:
    """Per row: the verdict of its (claim, setting, selection) over the claim's primary endpoints."""
    in_primary = is_primary_endpoint(table)
    combined = (
        table[in_primary]
        .groupby(["claim", *GROUP], dropna=False)["verdict"]
        .agg(lambda v: combine(list(v)))
    )
    return [
        combined.get((r["claim"], *(r[k] for k in GROUP)), "") if flag else ""
        for r, flag in zip(table.to_dict("records"), in_primary)
    ]


def summary(rows: pd.DataFrame, selection: str = "best_val") -> pd.DataFrame:
    """Per claim: the verdict over its settings (primary endpoints at ``selection``), counting every
    setting and naming where each verdict holds. supported: every tested setting; mixed: some;
    contradicted: none supported and some contradicted; not supported: neither; insufficient data:
    no setting has seeds enough; not tested: the claim applies nowhere (n/a)."""
    chosen = rows[(rows["selection"] == selection).to_numpy() & is_primary_endpoint(rows)]
    settings = chosen.drop_duplicates(["claim", *GROUP])
    out = []
    for claim, text in CLAIMS.items():
        mine = settings[settings["claim"] == claim]
        where = {
            verdict: "; ".join(
                setting_label(r)
                for r in mine[mine["setting_verdict"] == verdict].to_dict("records")
            )
            for verdict in (
                "supported",
                "contradicted",
                "not significant",
                "insufficient data",
                "n/a",
            )
        }
        count = {v: int((mine["setting_verdict"] == v).sum()) for v in where}
        tested = len(mine) - count["n/a"]
        if tested == 0:
            overall = "not tested"
        elif count["insufficient data"] == tested:
            overall = "insufficient data"
        elif count["supported"] == tested:
            overall = "supported"
        elif count["supported"]:
            overall = "mixed"
        elif count["contradicted"]:
            overall = "contradicted"
        else:
            overall = "not supported"
        declared = [e for e in ENDPOINTS if e.claim == claim and e.primary]
        endpoints = (
            ", ".join(
                e.name
                + (f" ({e.criterion.text})" if e.criterion else "")
                + (" (classification)" if e.tasks == ("classification",) else "")
                for e in declared
            )
            or "test_error, test_nll (classification): β* vs both extremes"
        )
        out.append(
            {
                "claim": claim,
                "statement": text,
                "primary endpoints": endpoints,
                "verdict": overall,
                "settings": len(mine),
                **{v: count[v] for v in where},
                **{
                    f"where {v}": where[v] or "—"
                    for v in ("supported", "contradicted", "not significant", "insufficient data")
                },
            }
        )
    return pd.DataFrame(out)


def format_cell(value) -> str:
    """A table cell as the Markdown tables print it: 4 significant digits, yes/no, blank for NaN."""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    return f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)


def write_claims(rows: pd.DataFrame, csv_path: str, md_path: str, alpha: float) -> None:
    rows.to_csv(csv_path, index=False)
    detail = rows[
        [
            "claim",
            "experiment",
            "model",
            "aggregation",
            "members",
            "selection",
            "endpoint",
            "primary",
            "n_seeds",
            "n_diverged",
            "beta0_mean",
            "beta1_mean",
            "diff_mean",
            "ci_low",
            "ci_high",
            "effect",
            "threshold",
            "p_exact",
            "p_t",
            "p_holm",
            "p_bh",
            "verdict",
            "note",
        ]
    ]
    detail = detail.apply(lambda column: column.map(format_cell))
    declared = (
        "\n".join(
            f"- claim {claim}: "
            + "; ".join(
                f"`{e.name}` — {e.description}"
                + (f" — criterion: {e.criterion.text}" if e.criterion else "")
                + (" (classification only)" if e.tasks == ("classification",) else "")
                for e in ENDPOINTS
                if e.claim == claim and e.primary
            )
            for claim in range(1, 7)
        )
        + "\n- claim 7: `test_error` and `test_nll` (classification) of the intermediate β with the lowest mean "
        "validation value, against β = 0 and β = 1 (both must go the same way)\n"
    )
    counted = rows[(rows["claim"] == 1) & (rows["endpoint"] == "test_error")]
    diverged = (
        int(counted[counted["selection"] == counted["selection"].iloc[0]]["n_diverged"].sum())
        if len(counted)
        else 0
    )
    with open(md_path, "w") as handle:
        handle.write("# Claims of the paper, tested on this configuration's runs\n\n")
        handle.write(
            "Generated from the run tables; never edited by hand. Each row pairs the seeds where both "
            "compared β finished (β = 1 − β = 0 unless stated; the sign is the claim's direction) and "
            "tests the mean difference with a two-sided exact sign-flip permutation test (all 2^n sign "
            f"patterns for n ≤ {stats.EXACT_MAX_SEEDS} seeds, {stats.MONTE_CARLO_PATTERNS:,} seeded "
            "Monte-Carlo patterns above), the paired t-test beside it. The 95 % CI inverts the "
            "sign-flip test (unbounded when the seeds are too few to reject anything). p_holm: Holm "
            "within the claim (one family of all its primary rows across settings; each secondary "
            "endpoint and selection its own family); p_bh: Benjamini–Hochberg over the whole table. "
            f"A row is supported when p_holm < {alpha}, the difference goes the claim's way and its "
            "effect-size criterion holds; contradicted when p_holm < "
            f"{alpha} the other way; insufficient data when the seeds cannot reach {alpha} at all "
            "(2/2^n). Diverged runs are excluded from every comparison and counted (n_diverged).\n\n"
            "**Primary endpoints** (declared in `collusion.claims`, selection `best_val` = the epoch of "
            "lowest validation ensemble loss, the authors' rule); a setting supports a claim only when "
            "every primary endpoint does. Everything else (selection `last`, other endpoints) is "
            f"secondary and not in the headline.\n\n{declared}\n"
            f"Diverged runs excluded (β = 0 and 1, all settings): {diverged}.\n\n"
            "## Headline: primary endpoints, best_val\n\n"
        )
        handle.write(markdown(summary(rows, "best_val")))
        handle.write(
            "\n## Secondary (not in the headline): the same endpoints at the last epoch\n\n"
        )
        handle.write(markdown(summary(rows, "last")))
        handle.write("\n## Every row\n\n")
        handle.write(markdown(detail))
