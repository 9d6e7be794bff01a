"""The claims' tests over settings (the claim-level verdicts, and the secondary per-dataset and
per-model families): a stratified sign-flip test of every (setting, seed) pair of the claim
(collusion.stats.pooled_sign_flip), Holm within each family."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import stats
from .analysis import SETTING_KEYS
from .claims_spec import (
    KEY,
    LEVELS,
    NO_CRITERION,
    POOLED,
    UNIT,
    Endpoint,
    combine,
    holm_within,
    is_primary_endpoint,
    primary_endpoints,
    verdicts,
)


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


def with_codes(pairs: pd.DataFrame) -> pd.DataFrame:
    """``setting`` and ``unit`` codes of each pair: the strata of the pooled test and the units
    that flip together (the pairs of one seed whose settings share their β = 0 learners)."""
    return pairs.assign(
        setting=pairs.groupby(SETTING_KEYS).ngroup(), unit=pairs.groupby(UNIT).ngroup()
    )


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
    coded = pairs if "unit" in pairs else with_codes(pairs)
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
    table["p_holm"] = holm_within(table["holm_family"], table["p_exact"])
    table["p_criterion_holm"] = holm_within(table["holm_family"], table["p_criterion"])
    if "criterion_z" not in table:
        table["criterion_z"] = np.nan
    has_criterion = table["threshold"] != NO_CRITERION
    met = (table["p_criterion_holm"] < alpha) & (table["criterion_z"] > 0)
    table["criterion_met"] = np.where(has_criterion, met, True)
    table["verdict"] = verdicts(table.assign(direction=table["z"]), "units", alpha)
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
