#!/usr/bin/env bash
# Install what the local one-node SLURM test cluster needs, only where it is missing:
#   - slurm-wlm (slurmctld, slurmd, client tools) and munge, from the distribution (apt-get);
#   - snakemake-executor-plugin-slurm 2.x (2.8 or later: job arrays, the efficiency report) into the
#     project's venv (pip), only where it is missing or older.
# Usage: .ci/slurm/install.sh            (run as root on a Debian/Ubuntu machine)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
   || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install.sh: slurm-wlm/munge are missing and installing them needs root (apt-get)." >&2
        echo "  Fix: run as root, or: sudo apt-get install -y --no-install-recommends slurm-wlm munge" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    timeout -k 10 600 apt-get update -q
    timeout -k 10 900 apt-get install -y -q --no-install-recommends slurm-wlm munge
fi

echo "install.sh: $(slurmctld -V), $(munged --version 2>&1 | head -1 | cut -d" " -f1)"

if [ ! -x "$VENV/bin/python" ]; then
    echo "install.sh: no virtual environment at $VENV yet; the plugin comes with the project's" \
         "'slurm' extra: pip install -e '.[test,slurm]'" >&2
    exit 0
fi
if ! "$VENV/bin/python" - <<'PY'
import importlib.metadata as md, sys
try:
    v = md.version("snakemake-executor-plugin-slurm")
except md.PackageNotFoundError:
    sys.exit(1)
major, minor = (int(part) for part in v.split(".")[:2])
sys.exit(0 if major == 2 and minor >= 8 else 1)
PY
then
    timeout -k 10 600 "$VENV/bin/python" -m pip install -q "snakemake-executor-plugin-slurm>=2.8,<3"
fi
echo "install.sh: snakemake-executor-plugin-slurm $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("snakemake-executor-plugin-slurm"))')"
