#!/usr/bin/env bash
# `make gpu-wheels`: download, here (where PyPI is reachable), the wheels that benchmarks/gpu_check.sh
# needs on a GPU machine with Python 3.12, torch and torchvision but no network: snakemake with
# everything it depends on, and vit-pytorch, mnist1d and einops (their other needs come with torch).
# Versions: those installed here, else pyproject.toml's ranges. A package that PyPI has only as a
# source archive (today connection_pool) is built here into a pure-Python wheel.
# Output: benchmarks/wheels/ (git-ignored), replaced whole, so an interrupted download leaves no
# folder that looks complete.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${1:-python3}
target=benchmarks/wheels
partial=$target.partial
PLATFORM=(--python-version 3.12 --implementation cp --only-binary=:all:
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

rm -rf "$partial"
mkdir -p "$partial"
snakemake=$(requirement snakemake)
for attempt in 1 2 3 4 5; do
  if "$PYTHON" -m pip download --quiet "${PLATFORM[@]}" --find-links "$partial" -d "$partial" \
    "$snakemake" 2>"$partial/error.txt"; then
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
"$PYTHON" -m pip download --quiet --no-deps "${PLATFORM[@]}" -d "$partial" \
  "$(requirement vit-pytorch)" "$(requirement mnist1d)" "einops>=0.8.2"
rm -rf "$target"
mv "$partial" "$target"
echo "gpu-wheels: $(ls "$target" | wc -l) wheels, $(du -sh "$target" | cut -f1), in $target"
