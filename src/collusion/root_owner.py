"""One configuration per results root (config/README.md, ``results_root``).

A real run records which configuration writes under its root in ``<root>/configuration.txt``
(``claim``: the Snakefile's onstart, so never a dry run; written atomically). A run of another
configuration whose root holds that record is refused at start, dry runs included, before it
writes anything (``check``: workflow/rules/common.smk), naming both configurations, the root and
the fix: without it, the second configuration's figures would replace the first's under the
first's captions.

A configuration is its configuration files (``--configfile``, or the default config/config.yaml),
resolved, relative to the working directory when inside it (a moved checkout keeps its record).
Its first file names it: the files after it overlay it (a ``data:`` section, a shorter recipe), as
an edit of the file would, and an edited file rerun is the same configuration. Torch-free.
"""

from __future__ import annotations

import re
from pathlib import Path

from .checks import ConfigError, working_path
from .io import atomic_write
from .pipeline import RESULTS

MARKER = "configuration.txt"
HEADER = "# the configuration that writes here (collusion.root_owner); its first file names it"


def configuration_files(configfiles) -> list[str]:
    """The configuration files of a run, resolved (relative to the working directory inside it)."""
    return [working_path(Path(path).resolve()) for path in configfiles]


def recorded(root: str) -> list[str]:
    """The configuration files recorded under ``root`` (none: nothing recorded)."""
    marker = Path(root) / MARKER
    if not marker.is_file():
        return []
    lines = marker.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def check(root: str, files: list[str]) -> None:
    """Raise ConfigError if ``root`` records another configuration than ``files``'s."""
    before = recorded(root)
    if not files or not before or before[0] == files[0]:
        return
    marker = Path(root) / MARKER
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(files[0]).stem) or "mine"
    delete = (
        f"delete {marker} to let this configuration write over its outputs (results/ may hold "
        "other roots: delete only the outputs you no longer want)"
        if root == RESULTS
        else f"delete the folder {root}/ if its outputs are no longer wanted"
    )
    raise ConfigError(
        f"results_root {root!r} holds the outputs of another configuration: {marker} records "
        f"{' + '.join(before)}, and this run's configuration is {' + '.join(files)}; two "
        "configurations under one root overwrite each other's tables, figures and report. Give "
        f"this one a folder of its own, `results_root: results/{name}` in {files[0]}; or {delete}"
    )


def claim(root: str, files: list[str]) -> None:
    """Record ``files`` as the configuration that writes under ``root`` (unless it is already)."""
    if files and recorded(root) != files:
        text = "\n".join([HEADER, *files]) + "\n"
        atomic_write(Path(root) / MARKER, lambda tmp: tmp.write_text(text, encoding="utf-8"))
