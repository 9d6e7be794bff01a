#!/usr/bin/env bash
# The GPU check: every paper-scale code path on CUDA, in one command that fits a short GPU window.
#
#   benchmarks/gpu_check.sh OUT           on a CUDA machine (one H100/H200): at most ~6 minutes
#   benchmarks/gpu_check.sh --smoke OUT   the same steps on CPU at tiny sizes (tests/test_gpu_check.py)
#
# OUT gets two files, nothing else: results.csv (benchmarks/results.csv's columns, one row per
# implementation measured, with the device) and gpu_check.log (everything, a summary at the end).
# Steps, in order, each time-boxed (LIMIT_* below, in seconds; override from the environment) so
# that one failing or hanging step does not cost the others:
#   0. install the wheels of benchmarks/wheels (`make gpu-wheels`) that this Python lacks
#   1. device, driver, torch and CUDA versions
#   2. python -m collusion.bench: CIFAR-shaped ResNet-18, M = 5, the authors' loop vs ours (loop,
#      vmapped; bf16 and fp32), a fixed number of minibatches after a warm-up; then torch.compile
#   3. the loop and vmapped executions agree (outputs, gradients, BatchNorm statistics; fp32, bf16),
#      and the CUDA tests of tests/test_ensemble.py
#   4. one real run through collusion.runner on CIFAR-format data, killed after its first
#      checkpoint and resumed; its outputs checked
#   5. the tiny test configuration through the Snakefile (--smoke: a dry run)
# Exit status: 0 when every step that ran passed (skipped steps say why in the log).
# GPU_CHECK_COMMIT=<sha> records the commit in the CSV where the copy has no .git.
set -uo pipefail
cd "$(dirname "$0")/.."

smoke=false
if [ "${1:-}" = --smoke ]; then
  smoke=true
  shift
fi
if [ $# -ne 1 ]; then
  echo "usage: $0 [--smoke] OUT_DIR" >&2
  exit 2
fi
mkdir -p "$1" && out=$(cd "$1" && pwd) || exit 2
log=$out/gpu_check.log
rm -f "$out/results.csv" "$log"

# the time boxes, in seconds: 360 in all
: "${LIMIT_WHEELS:=30}" "${LIMIT_VERSIONS:=15}" "${LIMIT_BENCH:=80}" "${LIMIT_COMPILE:=70}"
: "${LIMIT_AGREEMENT:=35}" "${LIMIT_CUDA_TESTS:=30}" "${LIMIT_RESUME:=45}" "${LIMIT_PIPELINE:=55}"
# --smoke on a shared CPU: the same boxes, SMOKE_SLACK times longer (the sizes are tiny, the
# cores may be busy)
: "${SMOKE_SLACK:=4}"
PYTHON=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if $smoke; then
  device=cpu
  export OMP_NUM_THREADS=1 # tiny tensors: more threads only contend for the cores
else
  device=cuda
fi
commit=()
[ -n "${GPU_CHECK_COMMIT:-}" ] && commit=(--commit "$GPU_CHECK_COMMIT")

summary=()
failed=0
note() { echo "$*" | tee -a "$log"; }
step() { # step NAME LIMIT COMMAND...: run COMMAND for at most LIMIT seconds, output into the log
  local name=$1 limit=$2 started=$SECONDS status rc
  shift 2
  if $smoke; then limit=$(awk -v l="$limit" -v s="$SMOKE_SLACK" 'BEGIN { print l * s }'); fi
  note "== $name (at most $limit s): $*"
  timeout -k 10 "$limit" "$@" 2>&1 | tee -a "$log"
  rc=${PIPESTATUS[0]}
  case $rc in
  0) status=passed ;;
  124 | 137) status="TIMED OUT after $limit s" ;;
  *) status="FAILED (exit $rc)" ;;
  esac
  [ "$rc" = 0 ] || failed=1
  summary+=("$(printf '%-34s %-26s %4d s' "$name" "$status" $((SECONDS - started)))")
}
skip() { # skip NAME REASON
  note "== $1: skipped: $2"
  summary+=("$(printf '%-34s skipped: %s' "$1" "$2")")
}
has() { "$PYTHON" -c "import $1" 2>/dev/null; }

if ! $smoke && ! "$PYTHON" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
  echo "$0: $PYTHON's torch sees no CUDA device: run this on a GPU machine, or with --smoke" >&2
  exit 2
fi
note "gpu_check $(date -u +%FT%TZ), $($smoke && echo "--smoke, CPU" || echo "device $device"), $PYTHON"

# -- 0. missing Python packages, from wheels brought along ------------------------------------------
needed=(snakemake vit_pytorch mnist1d)
missing=()
for module in "${needed[@]}"; do has "$module" || missing+=("$module"); done
if [ ${#missing[@]} = 0 ]; then
  skip "0 wheels" "${needed[*]} already installed"
elif ! compgen -G "benchmarks/wheels/*.whl" >/dev/null; then
  skip "0 wheels" "${missing[*]} missing and no benchmarks/wheels (run make gpu-wheels where PyPI is reachable, bring the folder)"
else
  # only the distributions this Python lacks, into a folder of their own (nothing it has shadowed)
  step "0 wheels" "$LIMIT_WHEELS" "$PYTHON" - benchmarks/wheels "$work/site" <<'EOF'
import re, subprocess, sys
from importlib import metadata
from pathlib import Path

def key(name):
    return re.sub(r"[-_.]+", "_", name).lower()

folder, target = Path(sys.argv[1]), sys.argv[2]
present = {key(d.metadata["Name"]) for d in metadata.distributions()}
wheels = sorted(folder.glob("*.whl"))
todo = [w for w in wheels if key(w.name.split("-")[0]) not in present]
print(f"{len(wheels)} wheels in {folder}; installing the {len(todo)} this Python lacks: "
      + ", ".join(w.name.split("-")[0] for w in todo))
command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
           "--no-compile", "--disable-pip-version-check", "--target", target]
sys.exit(subprocess.run(command + [str(w) for w in todo], check=False).returncode if todo else 0)
EOF
  export PYTHONPATH="$PYTHONPATH:$work/site"
fi

# -- 1. versions ------------------------------------------------------------------------------------
step "1 versions" "$LIMIT_VERSIONS" "$PYTHON" -m collusion.bench.gpu_check versions

# -- 2. the benchmark -------------------------------------------------------------------------------
bench=("$PYTHON" -m collusion.bench --device "$device" --models resnet18 --no-pipeline
  --out "$out" "${commit[@]}")
if $smoke; then
  sizes=(--model-options '{"width": 2}' --members 2 --train-size 256 --steps 1 --epochs 2)
  step "2 benchmark" "$LIMIT_BENCH" "${bench[@]}" "${sizes[@]}" --executions auto,vmapped
  skip "2 benchmark, torch.compile" "--smoke (compiling takes tens of seconds on a CPU)"
else
  # 20 minibatches of warm-up, then 2 × 20 timed; extrapolated to one 80-epoch job in the CSV
  sizes=(--steps 20 --epochs 3)
  step "2 benchmark" "$LIMIT_BENCH" "${bench[@]}" "${sizes[@]}" \
    --executions auto,loop,vmapped --precisions bf16,fp32
  step "2 benchmark, torch.compile" "$LIMIT_COMPILE" "${bench[@]}" "${sizes[@]}" --compile \
    --no-authors --executions loop,vmapped --precisions bf16
fi

# -- 3. loop and vmapped agree ----------------------------------------------------------------------
smoke_flag=()
$smoke && smoke_flag=(--smoke)
step "3 loop = vmapped" "$LIMIT_AGREEMENT" "$PYTHON" -m collusion.bench.gpu_check agreement \
  --device "$device" "${smoke_flag[@]}"
if $smoke; then
  skip "3 CUDA tests of test_ensemble.py" "--smoke (they need a CUDA device)"
else
  # the Trainer's CUDA test compiles twice (step 2 covers compile): left out here
  step "3 CUDA tests of test_ensemble.py" "$LIMIT_CUDA_TESTS" "$PYTHON" -m pytest -q \
    -p no:cacheprovider tests/test_ensemble.py -k "cuda and not trainer_on_cuda"
fi

# -- 4. one run killed and resumed ------------------------------------------------------------------
step "4 run, kill, resume" "$LIMIT_RESUME" "$PYTHON" -m collusion.bench.gpu_check resume \
  --device "$device" --workdir "$work/resume" "${smoke_flag[@]}"

# -- 5. the tiny configuration through the Snakefile ------------------------------------------------
if ! has snakemake; then
  skip "5 Snakefile, tiny config" "snakemake is not installed (see step 0)"
else
  pipeline=$work/pipeline
  mkdir -p "$pipeline/tests"
  cp -r Snakefile workflow config src envs "$pipeline/"
  cp -r tests/configs "$pipeline/tests/"
  if $smoke; then
    name="5 Snakefile, tiny config (dry run)" dry=-n
  else
    name="5 Snakefile, tiny config" dry=""
  fi
  step "$name" "$LIMIT_PIPELINE" bash -c '
    cd "$1" && "$2" -m snakemake --cores "$(nproc)" --configfile tests/configs/tiny.yaml $3 &&
      if [ -z "$3" ]; then ls -l results/paper/claims.md; fi' _ "$pipeline" "$PYTHON" "$dry"
fi

# -- 6. summary -------------------------------------------------------------------------------------
rows=0
[ -f "$out/results.csv" ] && rows=$(($(wc -l <"$out/results.csv") - 1))
note "== summary ($SECONDS s in all; $rows rows in $out/results.csv)"
for line in "${summary[@]}"; do note "$line"; done
exit $failed
