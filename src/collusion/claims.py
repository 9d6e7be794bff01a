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

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sp

from . import stats
from .analysis import GROUP, RUN_KEYS, finished, matched_gen_gap
from .claims_pooled import pooled_rows, with_codes
from .claims_spec import (  # noqa: F401 (the declarations are part of this module's interface)
    CLAIM7_ENDPOINTS,
    CLAIM7_TEXT,
    CLAIMS,
    COLUMNS,
    ENDPOINTS,
    KEY,
    LATE_SHARE,
    NO_CRITERION,
    PAIR,
    POOLED,
    POOLED_COLUMNS,
    RATIO_3,
    ROW_COLUMNS,
    VERDICTS,
    Criterion,
    Endpoint,
    budget_of,
    combine,
    holm_within,
    is_primary_endpoint,
    late_epoch,
    pair_differences,
    primary_endpoints,
    selects_at_end,
    setting_label,
    task_of,
    under_trained,
    verdict,
    verdicts,
)

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
            rows.append(row)
            if not inner:
                row.update(n_diverged=0, note="no intermediate β in the grid")
                continue
            best = float(done[done["beta"].isin(inner)].groupby("beta")[val_col].mean().idxmin())
            compared = group[group["beta"].isin([0.0, best, 1.0])]
            row["n_diverged"] = int((compared["status"] == "diverged").sum())
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
    pairs["diff"] = pair_differences(pairs)
    budget = np.array([budget_of(s, b) for s, b in zip(pairs["selection"], pairs["budget"])])
    late = late_epoch(pairs["epoch"].to_numpy(dtype=float), budget).astype(float)
    pairs["late"] = np.where(np.isfinite(budget), late, np.nan)
    described = add_context(described, frames["runs"])
    return with_codes(pairs), described, endpoints


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
        under_trained(row["late_seeds"] / n) if n and not np.isnan(late).any() else None
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
            none = {c: v[:0] for c, v in columns.items()}  # every run of the row diverged
            found = stats_by_key.get(key) or describe(none, endpoints.get(key[:2]))
            records.append({**row, **found})
    return pd.DataFrame(records)


def with_families(table: pd.DataFrame, primary_selection: str) -> pd.DataFrame:
    """``primary`` and ``holm_family``: a claim's primary rows (its primary endpoints at the primary
    selection, every setting) form one family; each other (claim, selection, endpoint) its own."""
    table = table.copy()
    table["primary"] = is_primary_endpoint(table) & (table["selection"] == primary_selection)
    table["holm_family"] = [
        f"claim {c} primary" if p else f"claim {c} {s} {e}"
        for c, p, s, e in zip(
            table["claim"], table["primary"], table["selection"], table["endpoint"]
        )
    ]
    return table


def adjust_rows(table: pd.DataFrame, alpha: float, primary_selection: str) -> pd.DataFrame:
    """Holm families, adjusted p-values, verdicts and setting verdicts of the rows table."""
    table = with_families(table, primary_selection)
    declared = is_primary_endpoint(table)
    table["p_holm"] = holm_within(table["holm_family"], table["p_exact"])
    table["p_bh"] = stats.benjamini_hochberg(table["p_exact"].to_numpy(dtype=float))
    table["verdict"] = verdicts(table.assign(direction=table["diff_mean"]), "n_seeds", alpha)
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
        again = with_families(row_statistics(kept, described, endpoints), primary_selection)
        assert (again[KEY].to_numpy() == rows[KEY].to_numpy()).all()  # the same rows in order
        again["p_holm"] = holm_within(again["holm_family"], again["p_exact"])
        again = verdicts(again.assign(direction=again["diff_mean"]), "n_seeds", alpha)
        for i, old, new in zip(rows.index, rows["verdict"], again):
            if new != old:
                row_changes[i].append(f"{seed}: {new}")
        if primary.empty:
            continue
        mine = kept[(kept["selection"] == primary_selection).to_numpy() & is_primary_endpoint(kept)]
        alone = pooled_rows(mine, None, endpoints, alpha, primary_selection, levels=("all",))
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
    stability: bool = True,
) -> ClaimsTables:
    """The claims tables from the tidy analysis tables of the unmitigated experiments.

    ``runs``, ``debias``, ``learner_dropout``: results/tables/<experiment>/{runs, debias,
    learner_dropout}.csv concatenated (any selections; rows of one selection are compared with
    each other only); ``gen_gap``: the gen_gap.csv tables (per-epoch losses, for claim 3 at a
    matched epoch; None leaves that endpoint out). ``alpha``: the significance level.
    ``primary_selection``: the selection whose rows are primary (e.g. ``best_val@30``, the best
    validation epoch among the first 30, for a budget study); every other selection is secondary.
    ``stability``: whether to recompute every verdict with each seed left out (``fragile``,
    ``loso``; one more pass over the tables per seed), else those columns stay empty.
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
        f"; under-trained: the selected epoch lies in the last {LATE_SHARE:.0%} of the budget for "
        + rows.loc[flagged, "late_seeds"].astype(int).astype(str)
        + " of "
        + rows.loc[flagged, "n_seeds"].astype(int).astype(str)
        + " seeds"
    )
    rows["under_trained"] = np.where(
        rows["selection"].map(selects_at_end), None, rows["under_trained"]
    )
    pooled = pooled_rows(pairs, rows, endpoints, alpha, primary_selection)
    if stability:
        rows, pooled = leave_one_seed_out(
            pairs, described, endpoints, alpha, primary_selection, rows, pooled
        )
    counts = ["n_seeds", "n_diverged", "late_seeds"]
    rows[counts] = rows[counts].astype("Int64")  # whole numbers, blank where n/a
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
