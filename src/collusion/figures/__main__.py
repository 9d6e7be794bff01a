"""Draw one figure on its own from the tables a pipeline run left, without Snakemake:

    python -m collusion.figures gen_gap                      # in the run's working directory
    python -m collusion.figures gen_gap --root RUN_DIR --out figures/ --experiments mnist1d,diabetes
    python -m collusion.figures capacity_map --results-root results/open_questions  # its results_root

Its inputs are read where the pipeline writes them (collusion.figures.source_paths); the sweep
experiments are, unless named, every <results root>/tables/<experiment>/ with a runs.csv. The results
root is the configuration's ``results_root`` (default ``results``). Writes <out>/<name>.pdf and .png
(default out: <results root>/paper/figures under the root).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import FIGURES, draw, input_name, read_inputs, source_paths


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m collusion.figures", description=__doc__.splitlines()[0]
    )
    parser.add_argument("name", choices=sorted(FIGURES))
    parser.add_argument("--root", default=".", help="the pipeline's working directory (default: .)")
    parser.add_argument(
        "--results-root",
        default="results",
        help="the configuration's results_root, relative to --root (default: results; "
        "config/open_questions.yaml's is results/open_questions)",
    )
    parser.add_argument(
        "--out", help="output folder (default: <root>/<results root>/paper/figures)"
    )
    parser.add_argument("--experiments", help="comma-separated sweep experiments (default: found)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    root = Path(args.root)
    results = args.results_root.rstrip("/")
    experiments = (
        args.experiments.split(",")
        if args.experiments
        else sorted(path.parent.name for path in (root / results / "tables").glob("*/runs.csv"))
    )
    tables = {}
    for source in FIGURES[args.name].inputs:
        paths = [root / path for path in source_paths(source, experiments, results)]
        missing = [str(path) for path in paths if not path.exists()]
        if missing or not paths:
            print(
                f"{args.name}: input {source!r} is missing ({', '.join(missing) or 'no experiment has a runs.csv'}); "
                f"build it with `snakemake figure_{args.name}` (or name --experiments; a "
                "configuration with its own results_root needs --results-root)",
                file=sys.stderr,
            )
            return 2
        tables[input_name(source)] = read_inputs([str(path) for path in paths])
    out = Path(args.out) if args.out else root / results / "paper" / "figures"
    out.mkdir(parents=True, exist_ok=True)
    from .common import save

    save(draw(args.name, tables), str(out / f"{args.name}.pdf"), str(out / f"{args.name}.png"))
    print(f"wrote {out / args.name}.pdf and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
