"""The claims report: results/paper/claims.md (with the mitigation section appended by
collusion.mitigation_claims) and the HTML page of the workflow report, both opening with the scope
of the runs they were computed from."""

from __future__ import annotations

import base64
import html

import numpy as np
import pandas as pd

from . import stats
from .claims import (
    CLAIM7_TEXT,
    CLAIMS,
    ENDPOINTS,
    LATE_SHARE,
    NO_CRITERION,
    POOLED_COLUMNS,
    ROW_COLUMNS,
    VERDICTS,
    ClaimsTables,
    is_primary_endpoint,
    setting_label,
)
from .costs import GPU_DATASETS
from .data.own import uses_stored_split
from .data.uci import UCI_DATASETS
from .tables import GROUP, claims_view, html_fragment, html_page, markdown

VERDICT_COLOURS = {  # a claim's or a setting's verdict -> its colour (claims page, landing page)
    "supported": "#1a7f37",
    "mixed": "#b35900",
    "contradicted": "#c62828",
    "not significant": "#555555",
    "not supported": "#555555",
    "insufficient data": "#8a8a8a",
    "not tested": "#8a8a8a",
    "n/a": "#8a8a8a",
}
SUMMARY_WORDS = {
    "a claim's verdict": "tested over all its settings at once; supported (or contradicted) when "
    "each of its primary endpoints is",
    "mixed": "(over settings) some settings support the claim, not all",
    "not supported": "(over settings) none supports it and none contradicts it",
    "not tested": "the claim applies to no setting of this configuration",
    "fragile": "the verdict changes when one seed is left out of the whole table",
    "under-trained": f"the selected epoch lies in the last {LATE_SHARE:.0%} of the training "
    "budget for at least half the seeds: training may have stopped before the runs converged",
}


def format_cell(value) -> str:
    """A table cell as the Markdown tables print it: 4 significant digits, yes/no, blank for NaN."""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    return f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)


def flag(value) -> bool:
    """A yes/no cell as the tables hold it in memory (bool) or read back from CSV ("True")."""
    return str(value).strip().lower() in ("true", "1", "1.0", "yes")


def cells(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.apply(lambda column: column.map(format_cell))


# -- scope -----------------------------------------------------------------------------------------


def options(model: dict) -> str:
    extra = ", ".join(f"{key} {value}" for key, value in model.items() if key != "arch")
    return model["arch"] + (f" ({extra})" if extra else " (its default size)")


def recipe_text(recipe: dict) -> str:
    text = (
        f"{recipe.get('optimizer', 'adam')} lr {recipe['lr']:g}, batch {recipe.get('batch_size', 128)}"
        f", {recipe['epochs']} {'periods' if recipe.get('eval_every_steps') else 'epochs'}"
    )
    if recipe.get("milestones"):
        text += f", lr × {recipe.get('gamma', 0.2):g} after {recipe['milestones']}"
    if recipe.get("schedule") == "plateau":
        text += ", lr lowered on plateaus"
    if recipe.get("early_stopping"):
        text += f", early stopping after {recipe['early_stopping']} without improvement"
    return text


def split_text(exp: dict, own: dict | None = None) -> str:
    """How an experiment's data is split (``own``: the configuration's datasets of your own)."""
    split = exp.get("split", {})
    if uses_stored_split(exp, own):
        return "its stored train / validation / test split"
    seed = split.get("seed", "run")
    drawn = "each run's seed" if seed == "run" else f"seed {seed}"
    return f"a random {split.get('fractions')} train / validation / test split drawn with {drawn}"


def scope(config: dict, runs: pd.DataFrame, primary_selection: str) -> list[tuple[str, str]]:
    """What the claims were computed on and what they cannot be compared with, as (label, text)."""
    names = [name for name in config["experiments"] if name in set(runs["experiment"])]
    exps = {name: config["experiments"][name] for name in names}
    models = sorted({model for exp in exps.values() for model in exp["models"]})
    recipes = sorted({exp["recipe"] for exp in exps.values()})
    per_run = runs.drop_duplicates(
        ["experiment", "dataset", "model", "aggregation", "members", "beta", "seed"]
    )
    status = per_run.groupby("experiment")["status"]
    devices = per_run["device"].value_counts() if "device" in per_run else pd.Series(dtype=int)
    # the paper's own data: its image datasets (the GPU ones) and its four UCI tables
    paper = sorted({exp["dataset"] for exp in exps.values()} & (GPU_DATASETS | set(UCI_DATASETS)))
    shared = []
    for name, exp in exps.items():
        # β = 0 trains each learner on its own cross-entropy under these aggregations
        sharing = [a for a in ("score", "probability", "sum") if a in exp["aggregations"]]
        if len(sharing) > 1:
            trainings = len(exp["models"]) * len(exp["ensemble_sizes"])
            shared.append(
                f"{name}: its {' and '.join(sharing)} settings share their β = 0 learners "
                f"(β = 0 trains each learner on its own loss, whatever the aggregation), so per seed "
                f"{trainings} independent β = 0 training{'s' * (trainings > 1)}, not "
                f"{len(sharing) * trainings}"
            )
    items = [
        (
            "Data",
            "; ".join(
                f"{name}: {exp['dataset']}, {split_text(exp, config.get('datasets'))}"
                for name, exp in exps.items()
            ),
        ),
        (
            "Models",
            "; ".join(f"{m} = {options(config['models'][m])}" for m in models)
            + "; M = "
            + "; ".join(f"{name} {exp['ensemble_sizes']}" for name, exp in exps.items()),
        ),
        (
            "Budget",
            "; ".join(f"{r}: {recipe_text(config['recipes'][r])}" for r in recipes)
            + f". Primary checkpoint selection: {primary_selection}",
        ),
        (
            "Seeds",
            "; ".join(
                f"{name}: {len(exp['seeds'])} seeds, β {exp['betas']}, "
                f"{int((status.get_group(name) != 'diverged').sum())} runs finished"
                for name, exp in exps.items()
                if name in status.groups
            ),
        ),
        (
            "Machine and device",
            "; ".join(f"{device} ({count} runs)" for device, count in devices.items())
            or "not recorded in the run tables",
        ),
        (
            "Not comparable with",
            "the paper's numbers: CIFAR-10/100, SVHN, Tiny ImageNet and ImageNet with ResNets, VGG "
            "and vision transformers trained on GPUs, and four UCI tables. "
            + (
                f"The data here ({', '.join(paper)}) are the paper's, but recipes, sizes and seeds "
                "are this configuration's: compare directions, not numbers."
                if paper
                else "Other data, smaller learners, shorter training: this table says which way "
                "each claim goes on these runs, not how large the paper's effects are."
            ),
        ),
        (
            "Shared β = 0 learners",
            "; ".join(shared) + ". The claim-level test flips their pairs together."
            if shared
            else "none: no experiment trains both score and probability averaging",
        ),
        (
            "Verdict words",
            "; ".join(
                f"**{word}**: {text}" for word, text in {**VERDICTS, **SUMMARY_WORDS}.items()
            ),
        ),
    ]
    return items


def scope_markdown(items) -> str:
    return "## Scope\n\n" + "".join(f"- **{label}.** {text}\n" for label, text in items) + "\n"


def scope_html(items) -> str:
    entries = "".join(
        f"<li><b>{html.escape(label)}.</b> {html.escape(text).replace('**', '')}</li>"
        for label, text in items
    )
    return f"<h4>Scope</h4><ul>{entries}</ul>"


# -- headline --------------------------------------------------------------------------------------


def declared_endpoints(claim: int) -> str:
    declared = [e for e in ENDPOINTS if e.claim == claim and e.primary]
    return (
        ", ".join(
            e.name
            + (f" ({e.criterion.text})" if e.criterion else "")
            + (" (classification)" if e.tasks == ("classification",) else "")
            for e in declared
        )
        or CLAIM7_TEXT
    )


def over_settings(mine: pd.DataFrame) -> tuple[str, dict]:
    """Today's summary over settings (each setting's verdict over the claim's primary endpoints)."""
    words = ("supported", "contradicted", "not significant", "insufficient data", "n/a")
    count = {v: int((mine["setting_verdict"] == v).sum()) for v in words}
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
    return overall, count


def pooled_text(row) -> str:
    text = f"{row.endpoint}: z {row.z:.2f}, p_holm {row.p_holm:.2g}"
    if row.threshold != NO_CRITERION:
        met = "met" if flag(row.criterion_met) else "not met"
        text += f", criterion {met} (p_holm {row.p_criterion_holm:.2g})"
    return text + f" → {row.verdict}" + (" (fragile)" if flag(row.fragile) else "")


def summary(tables: ClaimsTables, selection: str | None = None) -> pd.DataFrame:
    """Per claim: the claim-level verdict (pooled over settings) and, beside it, the settings'
    verdicts (each setting over the claim's primary endpoints) and where each holds."""
    selection = selection or tables.primary_selection
    rows, pooled = tables.rows, tables.pooled
    chosen = rows[(rows["selection"] == selection).to_numpy() & is_primary_endpoint(rows)]
    settings = chosen.drop_duplicates(["claim", *GROUP])
    level = pooled[(pooled["selection"] == selection) & (pooled["level"] == "all")]
    level = level[is_primary_endpoint(level)]
    out = []
    for claim, text in CLAIMS.items():
        mine = settings[settings["claim"] == claim]
        tests = level[level["claim"] == claim]
        overall, count = over_settings(mine)
        flagged = chosen[(chosen["claim"] == claim) & chosen["under_trained"].eq(True)]
        out.append(
            {
                "claim": claim,
                "statement": text,
                "primary endpoints": declared_endpoints(claim),
                "verdict": tests["claim_verdict"].iloc[0] if len(tests) else "not tested",
                "claim-level test": "; ".join(pooled_text(r) for r in tests.itertuples()) or "—",
                "over settings": overall,
                "settings": len(mine),
                **count,
                **{
                    f"where {v}": "; ".join(
                        setting_label(r) + (" (fragile)" if flag(r["fragile"]) else "")
                        for r in mine[mine["setting_verdict"] == v].to_dict("records")
                    )
                    or "—"
                    for v in ("supported", "contradicted", "not significant", "insufficient data")
                },
                "under-trained": "; ".join(
                    sorted({setting_label(r) for r in flagged.to_dict("records")})
                )
                or "—",
            }
        )
    return pd.DataFrame(out)


def family_table(pooled: pd.DataFrame, selection: str) -> pd.DataFrame:
    chosen = pooled[(pooled["selection"] == selection) & (pooled["level"] != "all")]
    columns = ["claim", "endpoint", "level", "group", "settings", "units", "settings_positive"]
    columns += ["z", "p_holm", "criterion_met", "verdict", "claim_verdict"]
    return cells(chosen[columns])


def legend(columns) -> str:
    return "".join(f"- `{c.name}`: {c.meaning}\n" for c in columns)


def write_claims(tables: ClaimsTables, paths: dict, alpha: float, scope_items) -> None:
    """claims.csv, claims_pooled.csv and claims.md (``paths``: csv, pooled, md)."""
    rows, pooled, selection = tables.rows, tables.pooled, tables.primary_selection
    rows.to_csv(paths["csv"], index=False)
    pooled.to_csv(paths["pooled"], index=False)
    declared = "".join(f"- claim {claim}: {declared_endpoints(claim)}\n" for claim in CLAIMS)
    others = sorted(set(rows["selection"]) - {selection})
    shown = [c.name for c in ROW_COLUMNS if c.shown and c.name in rows]
    with open(paths["md"], "w") as handle:
        handle.write("# Claims of the paper, tested on this configuration's runs\n\n")
        handle.write("Generated from the run tables; never edited by hand.\n\n")
        handle.write(scope_markdown(scope_items))
        handle.write(
            "## How the claims are decided\n\n"
            "Each comparison pairs the seeds where both compared β finished (β = 1 − β = 0; the "
            "sign is the claim's direction). **Claim level (the verdict):** a stratified sign-flip "
            "test over every (setting, seed) pair of the claim's settings: each setting's "
            "differences scaled by their root mean square, the settings that share a seed's β = 0 "
            "learners flipped together; exact over all 2^K patterns of K ≤ "
            f"{stats.EXACT_MAX_SEEDS} units, {stats.MONTE_CARLO_PATTERNS:,} seeded Monte-Carlo "
            "patterns above. Holm over the claims' primary tests (one per claim and primary "
            f"endpoint at selection `{selection}`); a claim is supported when every primary "
            "endpoint is, at p_holm < "
            f"{alpha}, in its direction, with its effect-size criterion met: the pooled test of the "
            "criterion's contrast (β1 − 3·β0 for a ratio, β1 − 50 for a share, difference − 5 for "
            "points) significant on the claim's side after Holm over the criteria. Per-dataset and "
            "per-model pools are secondary. **Per setting (descriptive):** the mean difference "
            "with its t-based 95 % interval (it exists from two seeds); the exact sign-flip test, "
            "Holm within the claim across settings; an effect-size criterion holds when the 95 % "
            "interval of the effect lies beyond its threshold (a ratio's interval by Fieller's "
            "method: every r at which the paired t-test of β1 − r·β0 does not reject). "
            "**Fragile:** the verdict changes when one seed is left out of the whole table. "
            "Diverged runs are excluded from every comparison and counted (n_diverged). The power "
            "check printed when the workflow starts says what this design can detect.\n\n"
            f"**Primary endpoints** (declared in `collusion.claims`):\n\n{declared}\n"
        )
        counted = rows[(rows["claim"] == 1) & (rows["endpoint"] == "test_error")]
        diverged = int(counted.loc[counted["selection"] == selection, "n_diverged"].sum())
        handle.write(f"Diverged runs excluded (β = 0 and 1, all settings): {diverged}.\n\n")
        handle.write(f"## Headline: primary endpoints, {selection}\n\n")
        handle.write(markdown(cells(summary(tables, selection))))
        handle.write(f"\n## Secondary: by dataset and by model ({selection})\n\n")
        handle.write(markdown(family_table(pooled, selection)))
        for other in others:
            handle.write(f"\n## Secondary: the same endpoints at selection {other}\n\n")
            handle.write(markdown(cells(summary(tables, other))))
        handle.write("\n## Claim-level tests of every endpoint\n\n")
        level = pooled[pooled["level"] == "all"]
        handle.write(markdown(cells(level.drop(columns=["level", "group", "holm_family"]))))
        handle.write("\n## Every row\n\n")
        handle.write(markdown(cells(rows[shown])))
        handle.write(
            "\n### Columns\n\nclaims.csv:\n\n"
            + legend(ROW_COLUMNS)
            + "\nclaims_pooled.csv:\n\n"
            + legend(POOLED_COLUMNS)
        )


PAGE_STYLE = (
    ".glance{display:flex;gap:16px;align-items:flex-start;flex-wrap:wrap}"
    ".glance table{flex:1 1 760px}.glance td,.glance th{text-align:left;vertical-align:top}"
    ".glance img{flex:0 1 540px;min-width:0;max-width:540px;cursor:zoom-in}"
    ".glance img.big{flex-basis:100%;max-width:100%;cursor:zoom-out}"
    ".verdict{font-weight:bold;white-space:nowrap}"
    "details{margin:4px 0}summary{cursor:pointer;font-weight:bold}"
    "td.text,th{text-align:left}"
    "@media print{summary{list-style:none}}"
)
# a printed page shows what the folds hold
PRINT_OPENS_FOLDS = (
    "<script>window.addEventListener('beforeprint',()=>"
    "document.querySelectorAll('details').forEach(d=>d.open=true));</script>"
)


def rounded(value, digits: int = 3) -> str:
    """A number as a reader takes it in: ``digits`` significant digits, blank when missing."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return ""
    return "" if np.isnan(value) else f"{value:.{digits}g}".replace("-", "−")


def with_interval(value, low, high) -> str:
    """'0.12 [0.05, 0.19]' (an open end as ±∞, no interval as the value alone)."""
    text = rounded(value)
    if not text or (rounded(low) == "" and rounded(high) == ""):
        return text
    ends = [rounded(low) or "−∞", rounded(high) or "∞"]
    ends = [e.replace("inf", "∞") for e in ends]
    return f"{text} [{ends[0]}, {ends[1]}]"


def verdict_html(verdict: str) -> str:
    colour = VERDICT_COLOURS.get(verdict, "#555555")
    return f"<span class='verdict' style='color:{colour}'>{html.escape(verdict)}</span>"


def marked(settings: str, under_trained: set[str]) -> str:
    """A summary's "; "-joined settings as lines, fragile ones marked †, under-trained ones u."""
    if settings == "—":
        return "—"
    lines = []
    for item in settings.split("; "):
        label = item.removesuffix(" (fragile)")
        mark = ("†" if label != item else "") + (" u" if label in under_trained else "")
        lines.append(html.escape(label) + mark)
    return "<br>".join(lines)


def headline_html(head: pd.DataFrame) -> str:
    """One row per claim: its verdict first, then the claim and its test over all settings, and
    where it holds and where not (collusion.claims_report.summary, rendered)."""
    lines = [
        "<table><tr><th>claim</th><th>verdict</th><th>statement (claim-level test)</th>"
        "<th>settings</th><th>where it holds</th><th>where not</th></tr>"
    ]
    for row in head.to_dict("records"):
        tested = row["settings"] - row["n/a"]
        late = set(row["under-trained"].split("; ")) - {"—"}
        where_not = "<br>".join(
            f"<i>{word}:</i><br>{marked(row[f'where {word}'], late)}"
            for word in ("contradicted", "not significant", "insufficient data")
            if row[f"where {word}"] != "—"
        )
        lines.append(
            f"<tr><td>{row['claim']}</td><td>{verdict_html(row['verdict'])}</td>"
            f"<td>{html.escape(row['statement'])}<br><small>{html.escape(row['claim-level test'])}"
            f"</small></td><td>{row['supported']}/{tested} support</td>"
            f"<td><small>{marked(row['where supported'], late)}</small></td>"
            f"<td><small>{where_not or '—'}</small></td></tr>"
        )
    return "".join(lines) + "</table>"


def setting_rows_html(mine: pd.DataFrame) -> str:
    """A claim's rows at the primary selection, rounded: effects with their 95 % intervals."""
    lines = [
        "<table><tr><th>setting</th><th>endpoint</th><th>seeds</th><th>β=0</th><th>β=1</th>"
        "<th>β=1 − β=0 [95 % CI]</th><th>effect [95 % CI]</th><th>criterion</th>"
        "<th>p_holm</th><th>verdict</th></tr>"
    ]
    for row in mine.to_dict("records"):
        marks = ("†" if flag(row.get("fragile")) else "") + (
            " u" if flag(row.get("under_trained")) else ""
        )
        criterion = str(row["threshold"])
        effect = (
            "as the difference"
            if criterion == NO_CRITERION
            else with_interval(row["effect"], row["effect_low"], row["effect_high"])
        )
        seeds = "" if pd.isna(row["n_seeds"]) else int(row["n_seeds"])
        lines.append(
            f"<tr><td class='text'>{html.escape(setting_label(row))}</td>"
            f"<td class='text'>{html.escape(row['endpoint'])}</td><td>{seeds}</td>"
            f"<td>{rounded(row['beta0_mean'])}</td><td>{rounded(row['beta1_mean'])}</td>"
            f"<td>{with_interval(row['diff_mean'], row['ci_low'], row['ci_high'])}</td>"
            f"<td>{effect}</td><td class='text'>{html.escape(criterion)}</td>"
            f"<td>{rounded(row['p_holm'], 2)}</td>"
            f"<td class='text'>{verdict_html(str(row['verdict']))}{marks}</td></tr>"
        )
    return "".join(lines) + "</table>"


def html_report(
    rows: pd.DataFrame,
    pooled: pd.DataFrame,
    scope_items,
    primary_selection: str,
    regime_map_png: bytes | None = None,
) -> str:
    """The report's claims page, read at a glance: each claim's verdict in colour with where it
    holds and where not, the regime map beside it; then, behind folds, each claim's settings
    (rounded effects with their intervals), the scope, the claim-level tests and every row."""
    head = summary(ClaimsTables(rows, pooled, primary_selection))
    picture = ""
    if regime_map_png:
        encoded = base64.b64encode(regime_map_png).decode()
        picture = (
            "<img alt='regime map' title='regime map (click to enlarge)' "
            f"onclick=\"this.classList.toggle('big')\" src='data:image/png;base64,{encoded}'>"
        )
    primary_rows = rows[
        (rows["selection"] == primary_selection).to_numpy() & is_primary_endpoint(rows)
    ]
    folds = []
    for claim, text in CLAIMS.items():
        mine = primary_rows[
            (primary_rows["claim"] == claim) & (primary_rows["verdict"].astype(str) != "n/a")
        ]
        if len(mine):
            folds.append(
                f"<details><summary>Claim {claim}: {html.escape(text)} — each setting "
                f"({primary_selection})</summary>{setting_rows_html(mine)}</details>"
            )
    primary = pooled[pooled["primary"].astype(str).str.lower().isin(["true", "1"])]
    words = "".join(
        f"<li><b>{html.escape(w)}</b>: {html.escape(m)}</li>" for w, m in SUMMARY_WORDS.items()
    )
    body = (
        f"<div class='glance'>{headline_html(head)}{picture}</div>"
        f"<p><small>† fragile; u under-trained.</small></p><ul style='font-size:smaller'>{words}</ul>"
        + "".join(folds)
        + f"<details><summary>Scope: the runs these verdicts rest on</summary>"
        f"{scope_html(scope_items)}</details>"
        + "<details><summary>Claim level: each claim's primary tests over all its settings"
        f"</summary>{html_fragment(primary)}</details>"
        + "<details><summary>Every row (claims.csv): one per claim, setting, selection and "
        f"endpoint</summary>{html_fragment(claims_view(rows))}</details>"
    )
    page = html_page("Claims", body)
    return page.replace("</style>", PAGE_STYLE + "</style>" + PRINT_OPENS_FOLDS, 1)
