#!/usr/bin/env bash
# The GPU check: every paper-scale code path on CUDA, in one command that fits a short GPU window.
#
#   benchmarks/gpu_check.sh OUT              on a CUDA machine (one H100/H200): at most 9 minutes
#   STEPS=6,9 benchmarks/gpu_check.sh OUT    only those steps (a second call: what failed)
#   benchmarks/gpu_check.sh --smoke OUT      the same steps on CPU at tiny sizes (make gpu-preflight)
#
# OUT gets three files, nothing else: results.csv (benchmarks/results.csv's columns, one row per
# training benchmark), evaluation.csv (one row per evaluation variant) and gpu_check.log (everything,
# a summary at the end); every row names the device, torch and CUDA. Rows are written as they are
# measured. Steps, cheap first, compile last, each in its own time box (LIMIT_*, seconds on the GPU;
# override from the environment) so that a step that fails or hangs costs no other step its rows:
#    0. the wheels of benchmarks/wheels (make gpu-wheels) that this Python lacks        25  (always)
#    1. device, driver, versions; every package of benchmarks/gpu_needs.txt imports     20
#    2. loop and vmapped executions agree (outputs, gradients, BatchNorm; fp32, bf16)    30
#    3. the CUDA tests of tests/test_ensemble.py                                        25
#    4. one CIFAR-shaped run of the paper's ResNet-18 job, killed and resumed           45
#    5. the Snakefile's two kinds of training job (benchmarks/gpu_check.yaml)           50
#    6. training benchmark: the authors' loop, ours loop and vmapped, bf16 and fp32     80
#    7. evaluation: autocast, one batch shape, the vmapped pooling (eager)              35
#    8. evaluation, compiled: the tail batch as it is vs padded to one shape            80
#    9. training benchmark, compiled: loop, bf16                                        75
#   10. training benchmark, compiled: vmapped, bf16                                     75
#                                                                          in all:     540 s (9 min)
# A step is also cut to the time left of BUDGET (560 s: the boxes and the script's own seconds).
# Exit status: 0 when every step that ran passed; the summary names the steps to rerun, as STEPS=.
# GPU_CHECK_COMMIT=<sha> records the commit in the CSVs where the copy has no .git;
# GPU_CHECK_WHEELS=folder takes the wheels from elsewhere (make gpu-preflight).
set -uo pipefail
cd "$(dirname "$0")/.."

smoke=false
if [ "${1:-}" = --smoke ]; then
  smoke=true
  shift
fi
if [ $# -ne 1 ]; then
  echo "usage: [STEPS=1,2,...] $0 [--smoke] OUT_DIR" >&2
  exit 2
fi
mkdir -p "$1" && out=$(cd "$1" && pwd) || exit 2
log=$out/gpu_check.log
STEPS=${STEPS:-}
if [ -z "$STEPS" ]; then # a whole run starts afresh; a selection adds to what is there
  rm -f "$out/results.csv" "$out/evaluation.csv" "$log"
fi

: "${LIMIT_WHEELS:=25}" "${LIMIT_VERSIONS:=20}" "${LIMIT_AGREEMENT:=30}" "${LIMIT_CUDA_TESTS:=25}"
: "${LIMIT_RESUME:=45}" "${LIMIT_PIPELINE:=50}" "${LIMIT_BENCH:=80}" "${LIMIT_EVALUATION:=35}"
: "${LIMIT_EVALUATION_COMPILE:=80}" "${LIMIT_COMPILE_LOOP:=75}" "${LIMIT_COMPILE_VMAPPED:=75}"
: "${BUDGET:=560}"
# --smoke on a shared CPU: the boxes SMOKE_SLACK times longer (tiny sizes, but busy cores)
: "${SMOKE_SLACK:=4}"
PYTHON=${PYTHON:-python3}
WHEELS=${GPU_CHECK_WHEELS:-benchmarks/wheels}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if $smoke; then
  device=cpu
  export OMP_NUM_THREADS=1 # tiny tensors: more threads only contend for the cores
  BUDGET=$(awk -v b="$BUDGET" -v s="$SMOKE_SLACK" 'BEGIN { printf "%d", b * s }')
else
  device=cuda
fi
commit=()
[ -n "${GPU_CHECK_COMMIT:-}" ] && commit=(--commit "$GPU_CHECK_COMMIT")
smoke_flag=()
$smoke && smoke_flag=(--smoke)

summary=()
rerun=()
failed=0
note() { echo "$*" | tee -a "$log"; }
selected() { # selected N: step N is in STEPS (or STEPS is empty)
  [ -z "$STEPS" ] || [[ ",${STEPS// /,}," == *",$1,"* ]]
}
step() { # step "N NAME" LIMIT COMMAND...: run COMMAND for at most LIMIT seconds, output into the log
  local name=$1 limit=$2 number=${1%% *} started=$SECONDS status rc left
  shift 2
  if ! selected "$number"; then return 0; fi
  if $smoke; then limit=$(awk -v l="$limit" -v s="$SMOKE_SLACK" 'BEGIN { print l * s }'); fi
  left=$((BUDGET - SECONDS))
  if [ "$left" -lt 5 ]; then
    skip "$name" "no time left of the ${BUDGET} s budget"
    rerun+=("$number")
    failed=1
    return 0
  fi
  limit=$(awk -v l="$limit" -v left="$left" 'BEGIN { print (l < left ? l : left) }')
  note "== $name (at most $limit s): $*"
  timeout -k 10 "$limit" "$@" 2>&1 | tee -a "$log"
  rc=${PIPESTATUS[0]}
  case $rc in
  0) status=passed ;;
  124 | 137) status="TIMED OUT after $limit s" ;;
  *) status="FAILED (exit $rc)" ;;
  esac
  if [ "$rc" != 0 ]; then
    failed=1
    [ "$number" = 0 ] || rerun+=("$number") # step 0 runs in every call
  fi
  summary+=("$(printf '%-40s %-26s %4d s' "$name" "$status" $((SECONDS - started)))")
  return "$rc"
}
skip() { # skip NAME REASON
  note "== $1: skipped: $2"
  summary+=("$(printf '%-40s skipped: %s' "$1" "$2")")
}

if ! $smoke && ! "$PYTHON" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
  echo "$0: $PYTHON's torch sees no CUDA device: run this on a GPU machine, or with --smoke" >&2
  exit 2
fi
note "gpu_check $(date -u +%FT%TZ), $($smoke && echo "--smoke, CPU" || echo "device $device"), $PYTHON, steps ${STEPS:-all}"

# -- 0. the Python packages that this machine lacks, from wheels brought along ---------------------
missing=$("$PYTHON" - <<'EOF'
import importlib.util
rows = [line.split("#")[0].split() for line in open("benchmarks/gpu_needs.txt")]
print(" ".join(r[1] for r in rows if r and r[2].startswith("carried")
               and importlib.util.find_spec(r[1]) is None))
EOF
)
if [ -z "$missing" ]; then
  skip "0 wheels" "every carried package of benchmarks/gpu_needs.txt is installed"
elif ! compgen -G "$WHEELS/*.whl" >/dev/null; then
  skip "0 wheels" "$missing missing and no $WHEELS (make gpu-wheels where PyPI is reachable; bring the folder)"
else
  # only the distributions this Python lacks, into a folder of their own (nothing it has shadowed)
  STEPS="" step "0 wheels" "$LIMIT_WHEELS" "$PYTHON" - "$WHEELS" "$work/site" <<'EOF'
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

# -- 1-5. correctness: versions, loop = vmapped, CUDA tests, resume, the Snakefile ---------------
check=("$PYTHON" -m collusion.bench.gpu_check)
step "1 versions, imports" "$LIMIT_VERSIONS" "${check[@]}" versions
step "2 loop = vmapped" "$LIMIT_AGREEMENT" "${check[@]}" agreement --device "$device" "${smoke_flag[@]}"
# the Trainer's CUDA test compiles twice (steps 9, 10 cover compile): left out; on CPU every
# selected test skips, which still checks that they import
step "3 CUDA tests of test_ensemble.py" "$LIMIT_CUDA_TESTS" "$PYTHON" -m pytest -q \
  -p no:cacheprovider tests/test_ensemble.py -k "cuda and not trainer_on_cuda"
step "4 run, kill, resume" "$LIMIT_RESUME" "${check[@]}" resume --device "$device" \
  --workdir "$work/resume" "${smoke_flag[@]}"

pipeline=$work/pipeline
mkdir -p "$pipeline/benchmarks"
cp -r Snakefile workflow config src envs "$pipeline/"
cp benchmarks/gpu_check.yaml "$pipeline/benchmarks/"
dry=()
$smoke && dry=(-n) # a dry run on CPU: the test suite runs the training rules on CPU
if ! step "5 Snakefile, training jobs${dry:+ (dry run)}" "$LIMIT_PIPELINE" bash -c \
  'cd "$1" && shift && "$@"' _ "$pipeline" "$PYTHON" -m snakemake --cores "$(nproc)" \
  --configfile benchmarks/gpu_check.yaml --until train train_pack_diverging_pack_mlp_regression_M3_seed0 "${dry[@]}"; then
  for file in $(find "$pipeline/logs" "$pipeline/.snakemake/log" -name '*.log' 2>/dev/null); do
    note "-- ${file#"$pipeline"/}:"
    tail -n 60 "$file" | tee -a "$log"
  done
fi

# -- 6-8. measurements ----------------------------------------------------------------------------
bench=("$PYTHON" -m collusion.bench --device "$device" --models resnet18 --no-pipeline
  --out "$out" "${commit[@]}")
if $smoke; then
  sizes=(--model-options '{"width": 2}' --members 2 --train-size 256 --steps 1 --epochs 2)
  executions=(--executions auto,vmapped)
  # the compiled steps run their commands without compiling (compiling takes minutes on a CPU)
  no_compile=(env TORCHDYNAMO_DISABLE=1)
else
  # 20 minibatches of warm-up, then 2 × 20 timed; extrapolated to one 80-epoch job in the CSV
  sizes=(--steps 20 --epochs 3)
  executions=(--executions auto,loop,vmapped --precisions bf16,fp32)
  no_compile=()
fi
step "6 benchmark" "$LIMIT_BENCH" "${bench[@]}" "${sizes[@]}" "${executions[@]}"
step "7 evaluation" "$LIMIT_EVALUATION" "${check[@]}" evaluation --device "$device" --out "$out" \
  "${commit[@]}" "${smoke_flag[@]}"
step "8 evaluation, compiled" "$LIMIT_EVALUATION_COMPILE" "${no_compile[@]}" "${check[@]}" \
  evaluation --compile --device "$device" --out "$out" "${commit[@]}" "${smoke_flag[@]}"

# -- 9-10. torch.compile, last: the longest and the likeliest to run out of time ---------------
for execution in loop vmapped; do
  number=$([ $execution = loop ] && echo 9 || echo 10)
  limit=$([ $execution = loop ] && echo "$LIMIT_COMPILE_LOOP" || echo "$LIMIT_COMPILE_VMAPPED")
  step "$number benchmark, compiled, $execution" "$limit" "${no_compile[@]}" "${bench[@]}" \
    "${sizes[@]}" --compile --no-authors --executions "$execution" --precisions bf16
done

# -- summary ----------------------------------------------------------------------------------------
rows() { if [ -f "$1" ]; then echo $(($(wc -l <"$1") - 1)); else echo 0; fi; }
note "== summary ($SECONDS s in all; $(rows "$out/results.csv") rows in results.csv, $(rows "$out/evaluation.csv") in evaluation.csv)"
for line in "${summary[@]}"; do note "$line"; done
if [ ${#rerun[@]} -gt 0 ]; then
  list=$(
    IFS=,
    echo "${rerun[*]}"
  )
  note "to rerun what failed: STEPS=$list bash benchmarks/gpu_check.sh $($smoke && echo '--smoke ')OUT"
fi
exit $failed
