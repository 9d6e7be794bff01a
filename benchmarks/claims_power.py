"""The claims' inference validated by simulation: verdict rates on synthetic grids of a
configuration's design (its settings, seeds and units), through the claims table's own claim-level
tests (collusion.claims.pooled_rows; collusion.power.simulate). Writes benchmarks/claims_power.csv,
one row per (design, scenario, claim) plus a row "family" per (design, scenario):

    supported, contradicted   the share of grids where the claim reads so
    any_test                  (family rows) the share of grids where any primary test is
                              significant: under the null, the family-wise false-positive rate
    any_claim                 (family rows) the share where any claim has a verdict

Scenarios: the null (no effect anywhere), and effects whose per-setting standardised size δ is
drawn from N(mean, 0.5²) (collusion.power.Effect; mean 1 is collusion.power.PLAUSIBLE).

    PYTHONPATH=src .venv/bin/python benchmarks/claims_power.py [--null-grids 2000] [--grids 200]
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from collusion import power  # noqa: E402
from collusion.config_errors import load_config  # noqa: E402
from collusion.io import write_csv  # noqa: E402

DESIGNS = ("config/paper.yaml", "config/config.yaml")
MEANS = (0.25, 0.5, 0.75, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--null-grids", type=int, default=2000)
    parser.add_argument("--grids", type=int, default=200, help="grids per effect scenario")
    parser.add_argument("--designs", nargs="+", default=list(DESIGNS))
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    rows = []
    for design in args.designs:
        config = load_config(ROOT / design)
        scenarios = [("null", power.Effect(), args.null_grids)]
        scenarios += [(f"δ ~ N({m:g}, 0.5²)", power.Effect(m, 0.5), args.grids) for m in MEANS]
        for seed, (name, effect, grids) in enumerate(scenarios):
            load, started = os.getloadavg()[0], time.perf_counter()
            rates = power.simulate(config, effect, grids, seed)
            common = {
                "design": design,
                "scenario": name,
                "grids": grids,
                "seconds": round(time.perf_counter() - started, 1),
                "load_1min": round(load, 1),
                "date": datetime.date.today().isoformat(),
                "commit": commit,
            }
            for claim in sorted(rates["supported"]):
                rows.append(
                    {
                        **common,
                        "claim": claim,
                        "supported": rates["supported"][claim],
                        "contradicted": rates["contradicted"][claim],
                        "any_test": "",
                        "any_claim": "",
                    }
                )
            rows.append(
                {
                    **common,
                    "claim": "family",
                    "supported": "",
                    "contradicted": "",
                    "any_test": rates["any_test"],
                    "any_claim": rates["any_claim"],
                }
            )
            print(design, name, rates, flush=True)
            write_csv(ROOT / "benchmarks" / "claims_power.csv", rows)  # what is done so far


if __name__ == "__main__":
    main()
