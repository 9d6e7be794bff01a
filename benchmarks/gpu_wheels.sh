#!/usr/bin/env bash
# `make gpu-wheels`: download, here (where PyPI is reachable), the wheels that benchmarks/gpu_check.sh
# needs on a GPU machine with Python 3.12, torch and torchvision but no network: the `carried` lines
# of benchmarks/gpu_needs.txt with everything they need, and the `carried-alone` ones without (what
# they need is on the GPU image). Versions: those installed here, else pyproject.toml's ranges. A
# package that PyPI has only as a source archive (today connection_pool) is built here into a
# pure-Python wheel.
#   bash benchmarks/gpu_wheels.sh [PYTHON]     PYTHON runs pip (default python3)
#   GPU_WHEELS_DIR=folder                      where (default benchmarks/wheels, what travels)
#   GPU_WHEELS_PYTHON=3.11                     for another Python (make gpu-preflight: this one's)
# The folder is replaced whole, so an interrupted download leaves no folder that looks complete.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${1:-python3}
target=${GPU_WHEELS_DIR:-benchmarks/wheels}
partial=$target.partial
version=${GPU_WHEELS_PYTHON:-3.12}
PLATFORM=(--python-version "$version" --implementation cp --only-binary=:all:
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64)

requirement() { # requirement NAME: NAME==the version installed here (what the tests ran with),
  # or else NAME's specifier in pyproject.toml's dependencies
  "$PYTHON" - "$1" <<'EOF'
import re, sys, tomllib
from importlib import metadata
name = sys.argv[1]
try:
    sys.exit(print(f"{name}=={metadata.version(name)}"))
except metadata.PackageNotFoundError:
    pass
for dependency in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]:
    if re.split(r"[<>=!~ ;\[]", dependency, maxsplit=1)[0] == name:
        print(dependency.split(";")[0].strip())
        break
else:
    sys.exit(f"{name} is not a dependency in pyproject.toml")
EOF
}

needs() { # needs WHERE: the distributions of benchmarks/gpu_needs.txt marked WHERE
  sed 's/#.*//' benchmarks/gpu_needs.txt | awk -v where="$1" '$3 == where { print $1 }'
}

rm -rf "$partial"
mkdir -p "$partial"
carried=()
for name in $(needs carried); do carried+=("$(requirement "$name")"); done
for attempt in 1 2 3 4 5; do
  if "$PYTHON" -m pip download --quiet "${PLATFORM[@]}" --find-links "$partial" -d "$partial" \
    "${carried[@]}" 2>"$partial/error.txt"; then
    break
  fi
  missing=$(grep -oP 'No matching distribution found for \K[^ ]+' "$partial/error.txt" || true)
  if [ -z "$missing" ] || [ "$attempt" = 5 ]; then
    cat "$partial/error.txt" >&2
    exit 1
  fi
  echo "gpu-wheels: $missing has no wheel on PyPI: building a pure-Python one here"
  "$PYTHON" -m pip wheel --quiet --no-deps -w "$partial" "$missing"
done
rm -f "$partial/error.txt"
alone=()
for name in $(needs carried-alone); do alone+=("$(requirement "$name")"); done
"$PYTHON" -m pip download --quiet --no-deps "${PLATFORM[@]}" -d "$partial" "${alone[@]}"
rm -rf "$target"
mv "$partial" "$target"
echo "gpu-wheels: $(ls "$target" | wc -l) wheels for Python $version, $(du -sh "$target" | cut -f1), in $target"
