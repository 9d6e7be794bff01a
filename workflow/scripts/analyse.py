"""Snakemake adapter: build one per-experiment table from run directories."""

import os
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # this checkout's package

# the rule's threads, before torch is imported: torch's default (every core) spins on the small
# tensors of the diagnostics and cost the learner-dropout table 16× the CPU time on a loaded
# 2-core machine, for bit-identical tables
os.environ["OMP_NUM_THREADS"] = str(snakemake.threads)

from pathlib import Path

from collusion import analysis

sys.stderr = open(snakemake.log[0], "w")
run_dirs = sorted({str(Path(path).parent) for path in snakemake.input})
options = snakemake.params.analysis
selections = options["selections"]
dropout = options["learner_dropout"]
builders = {
    "runs": lambda: analysis.runs_table(run_dirs, selections),
    "debias": lambda: analysis.debias_table(run_dirs, selections),
    "learner_dropout": lambda: analysis.learner_dropout_table(
        run_dirs, selections, dropout["fractions"], dropout["subsets"], dropout["authors_broadcast"]
    ),
    "gen_gap": lambda: analysis.gen_gap_table(run_dirs),
    "dynamics": lambda: analysis.dynamics_table(run_dirs),
    "curves": lambda: analysis.curves_table(run_dirs),
    "divergence": lambda: analysis.divergence_table(run_dirs),
    "calibration": lambda: analysis.calibration_table(run_dirs, selections),
    "improvement": lambda: analysis.improvement_table(run_dirs, selections),
}
try:
    builders[snakemake.params.table]().to_csv(snakemake.output[0], index=False)
except (
    analysis.RunOutputError
) as error:  # the traceback goes to the log; the reason to the console too
    print(f"{snakemake.rule}: {error}", file=sys.__stderr__)
    raise
