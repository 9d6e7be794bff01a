"""The report's landing page: this run at a glance, above the report's description.

``at_a_glance`` writes, in reStructuredText, the claims' headline (read from claims.csv and
claims_pooled.csv through collusion.claims_report.summary, the one place it is computed) with each
verdict in its colour, then the commit, configuration digest, device, seeds and the package
versions the runs record in their provenance. Rule ``report_landing`` puts it into
workflow/report/workflow.rst where that file says
so (``PLACEHOLDER``) and the report opens on the result.

Why not Snakemake's ``--report-metadata``: Snakemake 9.27 passes each string value through
docutils' default (pseudo-XML) writer and shows the parts of its answer ("whole", "encoding",
"errors", "version") in place of the value, and a list of strings as "[object Object]"; only
numbers come out as written.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from .pipeline import parse_run_dir

if TYPE_CHECKING:  # pandas is imported by the rule's script, not by the Snakefile
    import pandas as pd

PLACEHOLDER = ".. at a glance (rule report_landing fills this in)"
# the analysis process's packages (the training runs' are in their provenance)
ANALYSIS_PACKAGES = ("numpy", "pandas", "scipy", "matplotlib", "snakemake")


def config_digest(config: dict) -> str:
    """A short digest of the validated configuration (defaults filled): two runs of the pipeline
    with the same digest ran the same experiments."""
    text = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def shown_path(path: str | Path) -> str:
    """A configuration file as the report names it: relative to the working directory when it is
    inside it (a moved checkout keeps the rules' params), else as it is."""
    path, here = Path(path).absolute(), Path.cwd()
    return str(path.relative_to(here)) if path.is_relative_to(here) else str(path)


def read_provenance(paths: list[str]) -> list[tuple[str, dict]]:
    """(experiment, provenance.json contents) of each run's provenance file."""
    records = []
    for path in paths:
        with open(path) as handle:
            records.append(
                (parse_run_dir(path.removesuffix("/provenance.json")).experiment, json.load(handle))
            )
    return records


def rst_text(text: str) -> str:
    """Plain text inside reStructuredText: markup characters escaped."""
    for character in "\\*`_|":
        text = text.replace(character, "\\" + character)
    return text


def coloured(verdict: str) -> str:
    from .claims_report import VERDICT_COLOURS

    colour = VERDICT_COLOURS.get(verdict, "#555555")
    return f':html:`<b style="color:{colour}">{verdict}</b>`'


def seed_range(seeds: list[int]) -> str:
    """0, 1, 2, 3, 7 -> "0–3, 7"."""
    parts, run = [], []
    for seed in sorted(seeds):
        if run and seed != run[-1] + 1:
            parts.append(run)
            run = []
        run.append(seed)
    parts += [run] if run else []
    return ", ".join(f"{r[0]}–{r[-1]}" if len(r) > 2 else ", ".join(map(str, r)) for r in parts)


def counted(counter: Counter, total: int) -> str:
    """ "a: 200 runs; b: 60 runs", or "a (all 260 runs)" when there is one."""
    if len(counter) == 1:
        (value,) = counter
        return f"{value} — all {total} runs"
    return "; ".join(f"{value}: {n} runs" for value, n in counter.most_common())


def headline(claims_rows: pd.DataFrame, pooled: pd.DataFrame) -> pd.DataFrame:
    """Per claim: statement, verdict and where it holds (collusion.claims_report.summary)."""
    from .claims import ClaimsTables
    from .claims_report import summary

    return summary(ClaimsTables(claims_rows, pooled, "best_val"))


def headline_lines(claims_rows: pd.DataFrame, pooled: pd.DataFrame) -> list[str]:
    """One line per claim: its verdict in colour, how many settings support it, its statement."""
    lines = []
    for row in headline(claims_rows, pooled).to_dict("records"):
        tested = row["settings"] - row["n/a"]
        count = f" ({row['supported']}/{tested} settings)" if tested else ""
        lines.append(
            f"**{row['claim']}** {coloured(row['verdict'])}{count} — {rst_text(row['statement'])}"
        )
    return lines


def software(records: list[tuple[str, dict]]) -> str:
    """The versions the training runs recorded, and those of this (analysis) process."""
    training = Counter(
        ", ".join(
            [f"{name} {version}" for name, version in record.get("packages", {}).items() if version]
            + [f"python {record.get('python', '?')}"]
        )
        for _, record in records
    )
    analysis = []
    for name in ANALYSIS_PACKAGES:
        try:
            analysis.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    analysis.append(f"python {platform.python_version()}")
    return f"training {counted(training, len(records))}; analyses {', '.join(analysis)}"


def at_a_glance(
    config: dict,
    configfiles: list[str],
    digest: str,
    records: list[tuple[str, dict]],
    claims_rows: pd.DataFrame,
    pooled: pd.DataFrame,
) -> str:
    """The landing page's block, in reStructuredText: the claims' headline, then the run."""
    total = len(records)

    def code(record):
        commit = record.get("code", {}).get("commit", "unknown")
        if commit == "unknown":
            return "unknown (not run from a git checkout)"
        state = "uncommitted changes" if record["code"].get("dirty") else "clean"
        return f"{commit[:10]}, {state}"

    def device(record):
        threads = record.get("threads", "?")
        return f"{record.get('device', 'unknown')}, {threads} thread{'s' * (threads != 1)}"

    status = Counter(record.get("outcome", {}).get("status", "unknown") for _, record in records)
    seeds = "; ".join(
        f"{name} {seed_range(experiment['seeds'])}"
        for name, experiment in config["experiments"].items()
    )
    items = [
        ("Commit", counted(Counter(code(r) for _, r in records), total)),
        ("Configuration", f"{', '.join(configfiles) or '(none)'}, digest {digest}"),
        ("Runs", ", ".join(f"{n} {state}" for state, n in status.most_common())),
        ("Device", counted(Counter(device(r) for _, r in records), total)),
        ("Seeds", f"{seeds} (paired: every β of a seed starts from the same learners)"),
        ("Software", software(records)),
    ]
    return "\n".join(
        [
            ".. role:: html(raw)",
            "   :format: html",
            "",
            "**This run at a glance.** Each claim's verdict, tested over all its settings at once "
            "(primary endpoints, best-validation checkpoint), and how many settings support it on "
            "their own:",
            "",
            *[f"- {line}" for line in headline_lines(claims_rows, pooled)],
            "",
            *[f"- **{label}**: {rst_text(text)}" for label, text in items],
            "",
        ]
    )


def landing_page(template: str, block: str) -> str:
    """The report's description: ``template`` (workflow/report/workflow.rst, a Jinja template that
    Snakemake renders) with ``block`` in place of its ``PLACEHOLDER`` line, kept out of Jinja."""
    if PLACEHOLDER not in template:
        raise ValueError(f"the report's description has no line {PLACEHOLDER!r} to fill in")
    return template.replace(PLACEHOLDER, "{% raw %}\n" + block + "\n{% endraw %}", 1)
