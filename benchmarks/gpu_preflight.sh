#!/usr/bin/env bash
# `make gpu-preflight`: everything about the GPU check that can fail without a GPU, here, before a
# GPU window is spent on it (no device time):
#   1. the wheel bundle that travels (make gpu-wheels: benchmarks/wheels, for the GPU's Python 3.12),
#      and a check that it installs offline, alone, for Python 3.12 on that machine;
#   2. what travels (the working tree and the bundle) fits the device tool's 64 MiB;
#   3. the same bundle for this Python, and a fresh environment that holds only what the GPU image
#      holds: torch, torchvision and the `image` packages of benchmarks/gpu_needs.txt (linked from
#      PYTHON's environment, nothing copied), with everything they need;
#   4. the check's smoke mode (benchmarks/gpu_check.sh --smoke) in that environment with the network
#      off (unshare -n), its step 0 installing the bundle as on the GPU machine: an import that the
#      GPU image would lack fails here.
#   bash benchmarks/gpu_preflight.sh [OUT]     OUT: the smoke's CSVs and log (default
#                                              results/gpu_preflight); PYTHON: the project's Python
# Exit status 0 when all of it passed. Takes about a minute more than the smoke (tests/test_gpu_check.py
# runs it; benchmarks/README.md has the measured cost).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
out=${1:-results/gpu_preflight}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CARRY_LIMIT_MIB=64
PLATFORM=(--implementation cp --only-binary=:all: --platform manylinux2014_x86_64
  --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64)
started=$SECONDS
say() { echo "gpu-preflight [$((SECONDS - started)) s]: $*"; }
needs() { sed 's/#.*//' benchmarks/gpu_needs.txt | awk -v where="$1" '$3 == where { print $1 }'; }

# -- 1. the bundle that travels, and that it installs alone, offline, on Python 3.12 ---------------
bash benchmarks/gpu_wheels.sh "$PYTHON"
"$PYTHON" -m pip install --dry-run --quiet --no-index --find-links benchmarks/wheels \
  --target "$work/dry" --python-version 3.12 "${PLATFORM[@]}" $(needs carried)
"$PYTHON" -m pip install --dry-run --quiet --no-index --no-deps --find-links benchmarks/wheels \
  --target "$work/dry" --python-version 3.12 "${PLATFORM[@]}" $(needs carried-alone)
say "benchmarks/wheels installs offline on Python 3.12 (dry run)"

# -- 2. what travels fits -----------------------------------------------------------------------
size() { "$PYTHON" -c 'import os, sys; print(sum(os.path.getsize(p) for p in sys.stdin.read().split("\0") if os.path.isfile(p)))'; }
tree=$(git ls-files -z --cached --others --exclude-standard | size)
bundle=$(find benchmarks/wheels -type f -print0 | size)
mib=$(((tree + bundle) / 1048576))
say "what travels: the working tree $((tree / 1048576)) MiB + benchmarks/wheels $((bundle / 1048576)) MiB = $mib MiB (at most $CARRY_LIMIT_MIB)"
if [ "$mib" -ge "$CARRY_LIMIT_MIB" ]; then
  echo "gpu-preflight: what travels is over $CARRY_LIMIT_MIB MiB: mark more of benchmarks/gpu_needs.txt 'image' or carry less" >&2
  exit 1
fi

# -- 3. the bundle for this Python, and an environment of what the GPU image holds ------------------
version=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
GPU_WHEELS_DIR=$work/wheels GPU_WHEELS_PYTHON=$version bash benchmarks/gpu_wheels.sh "$PYTHON"
"$PYTHON" -m venv "$work/image"
site=$("$work/image/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
# shellcheck disable=SC2046
"$PYTHON" - "$site" torch torchvision $(needs image) <<'EOF'
"""Link into SITE the distributions named and everything they need (markers and extras honoured),
as installed for this Python."""
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

site, todo, found = Path(sys.argv[1]), [(name, ()) for name in sys.argv[2:]], {}
while todo:
    name, extras = todo.pop()
    key = canonicalize_name(name)
    if (key, extras) in found:
        continue
    dist = metadata.distribution(name)  # PackageNotFoundError: PYTHON lacks it
    found[key, extras] = dist
    for line in dist.requires or []:
        requirement = Requirement(line)
        if requirement.marker is None or any(
            requirement.marker.evaluate({"extra": extra}) for extra in ("", *extras)
        ):
            todo.append((requirement.name, tuple(sorted(requirement.extras))))
linked = set()
for dist in found.values():
    for top in {Path(f).parts[0] for f in dist.files or [] if not str(f).startswith("..")}:
        source, link = Path(dist.locate_file(top)), site / top
        if top != "__pycache__" and source.exists() and not link.exists():
            link.symlink_to(source)
            linked.add(top)
names = sorted({d.metadata["Name"] for d in found.values()})
print(f"the GPU image's packages: {len(names)} distributions linked: {', '.join(names)}")
EOF
say "an environment of torch, torchvision and the image's packages in $work/image"
# it sees nothing else (no leak from PYTHON's environment), and the check's own modules import
# without the bundle (the steps that need no workflow package run even where the wheels are missing)
image() { env -u PYTHONPATH -u VIRTUAL_ENV PYTHONPATH="$PWD/src" "$work/image/bin/python" "$@"; }
for module in $(sed 's/#.*//' benchmarks/gpu_needs.txt | awk '$3 ~ /^carried/ { print $2 }'); do
  if image -c "import $module" 2>/dev/null; then
    echo "gpu-preflight: the image's environment imports $module before the bundle: it leaks" >&2
    exit 1
  fi
done
image -c "import collusion.bench.gpu_check, collusion.bench.evaluation, collusion.bench.cli"
say "without the bundle: the carried packages are missing, the check's modules import"

# -- 4. the check's smoke mode there, offline, installing the bundle as on the GPU machine ----------
if unshare -n true 2>/dev/null; then
  offline=(unshare -n)
elif unshare -rn true 2>/dev/null; then
  offline=(unshare -rn)
else
  echo "gpu-preflight: unshare cannot take the network away here (run as root, or allow user namespaces)" >&2
  exit 1
fi
status=0
"${offline[@]}" env -u PYTHONPATH -u VIRTUAL_ENV PATH="$work/image/bin:/usr/bin:/bin" \
  PYTHON="$work/image/bin/python" GPU_CHECK_WHEELS="$work/wheels" \
  bash benchmarks/gpu_check.sh --smoke "$out" || status=$?
say "the check's smoke mode, offline, in the image's environment: exit $status (log: $out/gpu_check.log)"
exit $status
