"""The documentation's references point at things that exist, and the README's map is complete."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GENERATED = {
    ".git",
    ".venv",
    ".snakemake",
    ".ruff_cache",
    ".pytest_cache",
    "results",
    "resources",
    "logs",
}
TEXT_SUFFIXES = {".md", ".py", ".yaml", ".yml", ".smk", ".rst", ".cff", ".toml"}
# The background notes this project started from were never part of the repository; nothing in it
# may cite them by their file name (built here so that this file does not cite it either).
UNCOMMITTED_NOTES = "PAPER" + ".md"


def repo_files(suffixes=TEXT_SUFFIXES):
    """The repository's text files, without walking into generated folders."""
    for folder, subfolders, files in os.walk(REPO):
        if Path(folder) == REPO:
            subfolders[:] = [d for d in subfolders if d not in GENERATED]
        for name in sorted(files):
            if Path(name).suffix in suffixes or name in {"Snakefile", "Makefile"}:
                yield (Path(folder) / name).relative_to(REPO)


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(markdown: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", markdown.read_text(), flags=re.S)  # no headings in code blocks
    return {slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*?)\s*#*$", text, flags=re.M)}


def markdown_links(markdown: Path):
    text = re.sub(r"```.*?```", "", markdown.read_text(), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if not re.match(r"[a-z]+:", target):  # http:, https:, mailto: are not checked here
            yield target


def test_slug_follows_github():
    assert slug("The authors' recipes") == "the-authors-recipes"
    assert slug("What `make reproduce` does") == "what-make-reproduce-does"
    assert slug("CPU-scale findings and the default configuration") == (
        "cpu-scale-findings-and-the-default-configuration"
    )
    assert slug("Where is …") == "where-is-"


@pytest.mark.parametrize("markdown", [p for p in repo_files({".md"})], ids=str)
def test_relative_links_resolve(markdown):
    source = REPO / markdown
    broken = []
    for target in markdown_links(source):
        path, _, anchor = target.partition("#")
        resolved = (source.parent / path).resolve() if path else source
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            where = resolved.relative_to(REPO)
            broken.append(f"{target}: no heading with anchor #{anchor} in {where}")
    assert not broken, f"{markdown}: broken links:\n" + "\n".join(broken)


def test_references_to_docs_paper_name_existing_sections():
    sections = anchors(REPO / "docs" / "paper.md")
    broken = []
    for relative in repo_files():
        text = (REPO / relative).read_text(errors="replace")
        for anchor in re.findall(r"docs/paper\.md#([\w-]+)", text):
            if anchor not in sections:
                broken.append(f"{relative}: docs/paper.md#{anchor}")
    assert not broken, "no such section in docs/paper.md:\n" + "\n".join(broken)


def test_nothing_cites_the_uncommitted_paper_md():
    citing = [
        str(relative)
        for relative in repo_files()
        if re.search(
            rf"\b{re.escape(UNCOMMITTED_NOTES)}", (REPO / relative).read_text(errors="replace")
        )
    ]
    assert not citing, (
        f"cite docs/paper.md#<section> instead of {UNCOMMITTED_NOTES} in: {', '.join(citing)}"
    )


def test_readme_map_links_every_figure_module_and_caption():
    """Each figure module and each caption of workflow/report/ is linked from the README's map."""
    readme = REPO / "README.md"
    linked = {(REPO / target.partition("#")[0]).resolve() for target in markdown_links(readme)}
    figures = REPO / "src/collusion/figures"
    modules = [p for p in figures.glob("*.py") if p.stem not in {"__init__", "common"}]
    captions = list((REPO / "workflow/report").glob("*.rst"))
    assert modules and captions
    missing = [str(p.relative_to(REPO)) for p in modules + captions if p.resolve() not in linked]
    assert not missing, f"add to the README's 'Where is …' map: {', '.join(sorted(missing))}"


# --- the README's maps of figures, tables and analyses say what the registries say ------------------


def readme_table(heading: str) -> list[dict[str, str]]:
    """The rows of the first Markdown table after the paragraph that starts with ``heading``."""
    lines = (REPO / "README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    first = next(i for i in range(start, len(lines)) if lines[i].startswith("|"))
    rows = []
    for line in lines[first:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    header, body = rows[0], rows[2:]
    return [dict(zip(header, row)) for row in body]


def names(cell: str) -> list[str]:
    """`a`, `b` -> [a, b]."""
    return re.findall(r"`([^`]+)`", cell)


def claims_cell(claims) -> str:
    return ", ".join(map(str, claims)) or "—"


def test_readme_figure_map_is_the_registry():
    from collusion.figures import FIGURES

    rows = readme_table("**Figures**")
    assert [names(row["name"])[0] for row in rows] == list(FIGURES)
    for row in rows:
        name = names(row["name"])[0]
        entry = FIGURES[name]
        assert row["paper"] == entry.paper, name
        assert row["claims"] == claims_cell(entry.claims), name
        assert row["built when"] == entry.drawn_when.__doc__, name
        assert f"(src/collusion/figures/{name}.py)" in row["module"], name
        assert f"(workflow/report/figure_{name}.rst)" in row["caption"], name
        assert names(row["draws"]) == list(entry.inputs), name


def test_readme_table_map_is_the_registry():
    from collusion.figures import PAPER_TABLES

    rows = readme_table("**Tables**")
    assert [names(row["name"])[0] for row in rows] == list(PAPER_TABLES)
    for row in rows:
        name = names(row["name"])[0]
        entry = PAPER_TABLES[name]
        assert row["claims"] == claims_cell(entry.claims), name
        assert row["built when"] == entry.drawn_when.__doc__, name
        assert names(row["builder"]) == [entry.builder], name
        assert f"(workflow/report/table_{name}.rst)" in row["caption"], name
        assert names(row["from"]) == list(entry.sources), name


def registered_analyses() -> dict[str, tuple[str, list[str], str]]:
    """ANALYSES of workflow/rules/common.smk (name -> runs, files) with the builder that
    workflow/scripts/analyse.py runs for each, and the divergence table of analysis.smk."""
    common = (REPO / "workflow" / "rules" / "common.smk").read_text()
    block = re.search(r"^ANALYSES = (\{.*?^\})", common, re.S | re.M).group(1)
    script = (REPO / "workflow" / "scripts" / "analyse.py").read_text()
    builders = dict(re.findall(r'"(\w+)": lambda: analysis\.(\w+)\(', script))
    analyses = {
        name: (runs, files, builders[name])
        for name, (runs, files) in ast.literal_eval(block).items()
    }
    rule = (REPO / "workflow" / "rules" / "analysis.smk").read_text()
    divergence = re.search(r"rule analyse_divergence:.*?\[(.*?)\]", rule, re.S).group(1)
    files = re.findall(r'"([\w.]+)"', divergence)
    return analyses | {"divergence": ("divergent", files, builders["divergence"])}


def test_readme_analysis_map_is_the_registry():
    rows = readme_table("**Analyses**")
    expected = registered_analyses()
    assert [names(row["name"])[0] for row in rows] == list(expected)
    for row in rows:
        name = names(row["name"])[0]
        runs, files, builder = expected[name]
        assert names(row["runs"]) == [runs], name
        assert names(row["files of each run"]) == files, name
        assert names(row["builder"]) == [builder], name


def test_readme_states_the_figure_command_line_as_it_is():
    import argparse

    from collusion.figures.__main__ import parser

    readme = (REPO / "README.md").read_text()
    usage = re.search(r"`\.venv/bin/python -m collusion\.figures ([^`]*)`", readme).group(1)
    options = {
        option
        for action in parser()._actions
        if not isinstance(action, argparse._HelpAction)
        for option in action.option_strings
    }
    assert set(re.findall(r"--[\w-]+", usage)) == options
    assert "--experiments A,B" in usage  # one comma-separated value, as main() splits it
    assert "--out FOLDER" in usage  # a folder: <name>.pdf and .png are written into it
