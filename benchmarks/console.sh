#!/usr/bin/env bash
# The console of a dry run (`snakemake -n`, which prints every job's block as a run does) under
# Snakemake's options: bytes and lines of stdout and stderr together, per option set.
# Run from the repository root: bash benchmarks/console.sh [more snakemake arguments, e.g.
# --configfile my.yaml]; PYTHON= the interpreter with snakemake (default .venv/bin/python).
# Results and the real runs' consoles: benchmarks/console.md.
set -euo pipefail
PYTHON=${PYTHON:-.venv/bin/python}
measure() {
    local label=$1
    shift
    printf '%-52s %s\n' "$label" "$("$PYTHON" -m snakemake -n --cores 2 "$@" 2>&1 | wc -lc)"
}
echo "dry-run console: lines bytes ($(date -u '+%F %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null || echo 'no git'), load $(cut -d' ' -f1-3 /proc/loadavg))"
measure "no options (--workflow-profile none)" --workflow-profile none "$@"
measure "the default profile (profiles/default: quiet reason)" "$@"
measure "--quiet rules (hides failed jobs' error blocks)" --workflow-profile none --quiet rules "$@"
