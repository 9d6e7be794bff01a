"""The documentation's references point at things that exist, and the README's map is complete."""

from __future__ import annotations

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
