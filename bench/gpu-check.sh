#!/usr/bin/env bash
# One command that proves the CUDA build on a GPU machine (docs/deployment.md#gpu-executors):
#
#   bench/gpu-check.sh [--cpu] [--quick] [--no-build] [--redist] [--out DIR] [--parts LIST]
#
# Parts, each with its own time limit, each ending in one line "PASS <part>: <figures>" or "FAIL <part>: <why>":
#   build            mvn -Pcuda -DskipTests package (the application jar with nd4j-cuda-11.6), and checks that the
#                    jar holds the backend asked for
#   layer-gradients  the finite-difference gradient checks of every layer (training/.../nn/*Test) on the backend
#   sharded-loss     the sharded contrastive loss against the dense one, and the K-worker step against one worker
#   host-memory      HostMemory, AdamW, the TCP ring and task binding (the code that moves data between host and GPU)
#   bench-train      bin/clip bench train: ViT-B/32 at batch 128, or the largest of 64, 32, 16 that fits
#   train-2-workers  bin/clip demo --workers 2 --no-limber: a small dataset generated on the spot, the tiny model
#                    trained by two barrier-stage workers sharing the GPU, then evaluated zero-shot; the loss must fall
# (layer-gradients, sharded-loss and host-memory come from one Maven test run.)
#
#   --cpu       the same parts on the CPU backend (the default build), so that CI exercises this script
#   --quick     small sizes: fewer test classes, tiny-vit instead of ViT-B/32, a shorter training run
#   --no-build  use the jar already in spark-jobs/target (the build part only checks its backend)
#   --redist    -Dcuda.redist=true: the CUDA libraries inside the jar and on the tests' classpath (no CUDA toolkit
#               needed on the machine, only the NVIDIA driver)
#   --out DIR   where the logs and outputs go (default: gpu-check-output)
#   --parts L   comma-separated subset of the parts above
#
# Environment: MVN (default mvn), MVN_ARGS (extra Maven arguments, e.g. -o), CLIP_DRIVER_MEMORY (bin/clip's heap;
# default 16g on a GPU, 3g with --cpu). Exit status: 0 when every part run passed, 1 when any failed, 2 for bad usage.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ALL_PARTS="build,layer-gradients,sharded-loss,host-memory,bench-train,train-2-workers"
CPU=0
QUICK=0
BUILD=1
REDIST=0
OUT="gpu-check-output"
PARTS="$ALL_PARTS"

usage() {
  sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | grep '^#' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) CPU=1 ;;
    --quick) QUICK=1 ;;
    --no-build) BUILD=0 ;;
    --redist) REDIST=1 ;;
    --out) [ $# -ge 2 ] || usage; OUT="$2"; shift ;;
    --parts) [ $# -ge 2 ] || usage; PARTS="$2"; shift ;;
    -h | --help) usage ;;
    *) echo "gpu-check: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
IFS=',' read -r -a wanted <<<"$PARTS"
for p in "${wanted[@]}"; do
  case ",$ALL_PARTS," in
    *",$p,"*) ;;
    *) echo "gpu-check: unknown part '$p' in --parts; the parts are $ALL_PARTS" >&2; exit 2 ;;
  esac
done
if [ "$CPU" = 1 ] && [ "$REDIST" = 1 ]; then
  echo "gpu-check: --redist bundles the CUDA libraries, which the CPU build (--cpu) has no use for" >&2
  exit 2
fi

mkdir -p "$OUT" || exit 2
OUT="$(cd "$OUT" && pwd)"
MVN="${MVN:-mvn}"
read -r -a MVN_EXTRA <<<"${MVN_ARGS:-}"
if [ "$CPU" = 1 ]; then
  PROFILE=()
  BACKEND="CPU"
  NATIVE_LIB="libnd4jcpu.so"
  export CLIP_DRIVER_MEMORY="${CLIP_DRIVER_MEMORY:-3g}"
else
  PROFILE=(-Pcuda)
  [ "$REDIST" = 1 ] && PROFILE+=(-Dcuda.redist=true)
  BACKEND="CUDA"
  NATIVE_LIB="libnd4jcuda.so"
  export CLIP_DRIVER_MEMORY="${CLIP_DRIVER_MEMORY:-16g}"
fi
export CLIP_NO_BUILD=1 # bin/clip must run the jar built here, never rebuild it for the CPU
CLIP="$ROOT/bin/clip"
FAILED=0

wants() {
  case ",$PARTS," in *",$1,"*) return 0 ;; *) return 1 ;; esac
}

pass() {
  echo "PASS $1: $2"
}

fail() {
  echo "FAIL $1: $2"
  FAILED=1
}

# run_limited SECONDS LOG COMMAND...: runs the command with a time limit, its output in LOG; returns its status
# (124 when it ran out of time).
run_limited() {
  local limit="$1" log="$2"
  shift 2
  timeout --kill-after=30 "$limit" "$@" >"$log" 2>&1 </dev/null
}

# why STATUS LIMIT LOG: a failed command's reason, for a FAIL line.
why() {
  if [ "$1" = 124 ] || [ "$1" = 137 ]; then
    echo "did not finish within $2 s (log: $3)"
  else
    echo "exit status $1: $(grep -E 'ERROR|Exception|Cannot ' "$3" | grep -v '^\s*at ' | head -n 2 | tr '\n' ' ' | cut -c1-300) (log: $3)"
  fi
}

echo "gpu-check: $BACKEND backend$([ "$QUICK" = 1 ] && echo ", quick sizes"), outputs in $OUT"
if [ "$CPU" = 0 ]; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    echo "gpu-check: $(nvidia-smi --query-gpu=index,name,compute_cap,memory.total,driver_version --format=csv,noheader 2>&1 | head -n 8 | tr '\n' ';')"
  else
    echo "gpu-check: nvidia-smi is not on PATH: this machine has no NVIDIA driver; the CUDA parts will fail (use --cpu)"
  fi
fi

# ---- build ------------------------------------------------------------------------------------------------
JAR=""
find_jar() {
  local jars=()
  shopt -s nullglob
  jars=("$ROOT"/spark-jobs/target/clipspark-spark-jobs-*-app.jar)
  shopt -u nullglob
  [ "${#jars[@]}" -gt 0 ] && printf '%s\n' "${jars[0]}"
}
list_jar() { # the names of the files in a jar, one a line
  if command -v unzip >/dev/null 2>&1; then unzip -Z1 "$1"; else "${JAVA_HOME:+$JAVA_HOME/bin/}jar" tf "$1"; fi
}
if wants build; then
  start=$SECONDS
  status=0
  if [ "$BUILD" = 1 ]; then
    limit=$([ "$QUICK" = 1 ] && echo 1200 || echo 2400)
    (cd "$ROOT" && run_limited "$limit" "$OUT/build.log" "$MVN" -B "${MVN_EXTRA[@]}" "${PROFILE[@]}" -DskipTests package)
    status=$?
  fi
  JAR="$(find_jar)"
  if [ "$status" != 0 ]; then
    fail build "mvn ${PROFILE[*]} -DskipTests package: $(why "$status" "$limit" "$OUT/build.log")"
  elif [ -z "$JAR" ]; then
    fail build "no spark-jobs/target/clipspark-spark-jobs-*-app.jar$([ "$BUILD" = 0 ] && echo " (--no-build: build it first)")"
  elif ! { list_jar "$JAR" >"$OUT/jar-files.txt" 2>/dev/null && grep -q "/$NATIVE_LIB\$" "$OUT/jar-files.txt"; }; then
    fail build "$JAR does not hold $NATIVE_LIB: it is not the $BACKEND build$([ "$BUILD" = 0 ] && echo " (--no-build)")"
  else
    size=$(( $(stat -c %s "$JAR") / 1000000 ))
    cudalibs=$(grep -c '^org/bytedeco/cuda/linux-x86_64/lib[a-zA-Z]*\.so\.' "$OUT/jar-files.txt")
    pass build "$(basename "$JAR"), $size MB, $BACKEND backend ($NATIVE_LIB), $cudalibs CUDA libraries bundled, $([ "$BUILD" = 1 ] && echo "built in $((SECONDS - start)) s" || echo "existing jar (--no-build)")"
  fi
else
  JAR="$(find_jar)"
fi

# ---- layer-gradients, sharded-loss, host-memory: one Maven test run on the backend ----------------------------
if wants layer-gradients || wants sharded-loss || wants host-memory; then
  if [ "$QUICK" = 1 ]; then
    GRADIENT_TESTS="LinearTest,LayerNormTest,BatchNorm2dTest"
    LOSS_TESTS="ShardedContrastiveLossTest,ContrastiveLossTest"
    HOST_TESTS="HostMemoryTest,TaskGpusTest,AdamWTest"
    limit=900
  else
    GRADIENT_TESTS="dev.clipspark.training.nn.*Test"
    LOSS_TESTS="ShardedContrastiveLossTest,ContrastiveLossTest,GatherWithGradientLossTest,DistributedTrainStepTest"
    HOST_TESTS="HostMemoryTest,TaskGpusTest,AdamWTest,GradientClippingTest,TcpRingCollectiveTest,CheckpointsTest"
    limit=2400
  fi
  reports="$ROOT/training/target/surefire-reports"
  marker="$OUT/.tests-started"
  touch "$marker"
  sleep 1 # reports written from now on are newer than the marker
  start=$SECONDS
  (cd "$ROOT" && run_limited "$limit" "$OUT/tests.log" "$MVN" -B "${MVN_EXTRA[@]}" "${PROFILE[@]}" -pl training -am test \
    -Dtest="$GRADIENT_TESTS,$LOSS_TESTS,$HOST_TESTS" -Dsurefire.failIfNoSpecifiedTests=false)
  status=$?
  seconds=$((SECONDS - start))
  backend_seen="$(find "$reports" -name '*HostMemoryTest-output.txt' -newer "$marker" -exec grep -ho 'ND4J backend: [A-Za-z]*' {} + 2>/dev/null | head -n 1)"
  gpu_seen="$(find "$reports" -name '*TaskGpusTest-output.txt' -newer "$marker" -exec grep -ho 'GPU: .*' {} + 2>/dev/null | head -n 1)"
  # report GROUP PART: sums the fresh surefire reports of the group's classes into one PASS/FAIL line.
  report() {
    local part="$1" files=() f classes=0 tests=0 failures=0 skipped=0 bad=""
    shift
    for f in "$@"; do files+=("$f"); done
    for f in "${files[@]}"; do
      [ -f "$f" ] || continue
      local head
      head="$(grep -m1 -o '<testsuite [^>]*>' "$f")"
      local t e fl s
      t="$(sed -n 's/.* tests="\([0-9]*\)".*/\1/p' <<<"$head")"
      e="$(sed -n 's/.* errors="\([0-9]*\)".*/\1/p' <<<"$head")"
      fl="$(sed -n 's/.* failures="\([0-9]*\)".*/\1/p' <<<"$head")"
      s="$(sed -n 's/.* skipped="\([0-9]*\)".*/\1/p' <<<"$head")"
      classes=$((classes + 1))
      tests=$((tests + ${t:-0}))
      failures=$((failures + ${e:-0} + ${fl:-0}))
      skipped=$((skipped + ${s:-0}))
      if [ "$((${e:-0} + ${fl:-0}))" -gt 0 ]; then
        bad="$bad $(basename "$f" .xml | sed 's/^TEST-//; s/.*\.//')"
      fi
    done
    if [ "$classes" = 0 ]; then
      fail "$part" "no test report: $(why "$status" "$limit" "$OUT/tests.log")"
    elif [ "$failures" -gt 0 ]; then
      fail "$part" "$failures of $tests tests failed in$bad (${backend_seen:-backend unknown}; reports: $reports)"
    elif [ "$status" != 0 ] && [ "$status" -ge 124 ]; then
      fail "$part" "$(why "$status" "$limit" "$OUT/tests.log")"
    else
      pass "$part" "$tests tests in $classes classes, $skipped skipped, 0 failed (${backend_seen:-backend unknown}${gpu_seen:+, $gpu_seen}; Maven run $seconds s)"
    fi
  }
  fresh() { # fresh CLASS-PATTERN...: the surefire XML reports of matching classes written by this run
    local pattern
    for pattern in "$@"; do
      find "$reports" -name "TEST-$pattern.xml" -newer "$marker" 2>/dev/null
    done
  }
  to_patterns() { # a -Dtest list as report-file patterns
    tr ',' '\n' <<<"$1" | sed 's/^dev\.clipspark\.training\.nn\.\*Test$/dev.clipspark.training.nn.*Test/; t; s/^/*./'
  }
  mapfile -t patterns < <(to_patterns "$GRADIENT_TESTS")
  mapfile -t gradient_reports < <(fresh "${patterns[@]}")
  mapfile -t patterns < <(to_patterns "$LOSS_TESTS")
  mapfile -t loss_reports < <(fresh "${patterns[@]}")
  mapfile -t patterns < <(to_patterns "$HOST_TESTS")
  mapfile -t host_reports < <(fresh "${patterns[@]}")
  wants layer-gradients && report layer-gradients "${gradient_reports[@]}"
  wants sharded-loss && report sharded-loss "${loss_reports[@]}"
  wants host-memory && report host-memory "${host_reports[@]}"
  if [ "$CPU" = 0 ] && [ "${backend_seen#ND4J backend: }" != "JCublasBackend" ]; then
    fail tests "the tests ran on ${backend_seen:-an unknown backend}, not ND4J's CUDA backend (JCublasBackend)"
  fi
fi

# ---- bench-train -------------------------------------------------------------------------------------------
# json_number KEY FILE: a number from bench's flat JSON.
json_number() {
  sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\([-0-9.eE+]*\|NaN\|Infinity\).*/\1/p" "$2" | head -n 1
}
if wants bench-train; then
  if [ -z "$JAR" ]; then
    fail bench-train "no application jar to run (run the build part)"
  else
    if [ "$QUICK" = 1 ]; then
      MODEL=tiny-vit; BATCHES=(16); STEPS=2; limit=300
    elif [ "$CPU" = 1 ]; then
      MODEL=ViT-B-32; BATCHES=(8); STEPS=2; limit=900
    else
      MODEL=ViT-B-32; BATCHES=(128 64 32 16); STEPS=3; limit=900
    fi
    done_bench=0
    tried=""
    for batch in "${BATCHES[@]}"; do
      log="$OUT/bench-train-$batch.log"
      json="$OUT/bench-train-$batch.json"
      rm -f "$json"
      run_limited "$limit" "$log" "$CLIP" bench train --model "$MODEL" --batch "$batch" --steps "$STEPS" --warmup 1 \
        --json "$json"
      status=$?
      if [ "$status" = 0 ] && [ -f "$json" ]; then
        sps="$(json_number samples_per_second "$json")"
        step="$(json_number step_seconds "$json")"
        mfu="$(json_number mfu "$json")"
        gemm="$(json_number gemm_gflops "$json")"
        loss="$(json_number first_loss "$json")"
        if [[ "$loss" =~ ^[0-9] ]] && [[ "$sps" =~ ^[0-9] ]]; then
          figures="$(awk -v st="$step" -v sp="$sps" -v m="$mfu" -v g="$gemm" -v l="$loss" 'BEGIN {
            printf "%.3f s/step, %.2f samples/s, MFU %.3f of %.1f GFLOP/s GEMM, first loss %.4f", st, sp, m, g, l }')"
          pass bench-train "$MODEL batch $batch: $figures${tried:+ (did not fit:$tried)}"
        else
          fail bench-train "$MODEL batch $batch: loss '$loss', samples/s '$sps' (log: $log)"
        fi
        done_bench=1
        break
      fi
      if grep -qiE 'out of memory|OutOfMemory|cudaErrorMemoryAllocation|Failed to allocate|Allocation failed|cudaMalloc|memory usage is too high' "$log"; then
        tried="$tried $batch"
        continue # try the next smaller batch
      fi
      fail bench-train "$MODEL batch $batch: $(why "$status" "$limit" "$log")"
      done_bench=1
      break
    done
    if [ "$done_bench" = 0 ]; then
      fail bench-train "$MODEL: no batch fitted (out of memory at:$tried)"
    fi
  fi
fi

# ---- train-2-workers ---------------------------------------------------------------------------------------
if wants train-2-workers; then
  if [ -z "$JAR" ]; then
    fail train-2-workers "no application jar to run (run the build part)"
  else
    DEMO=(demo --out "$OUT/demo" --workers 2 --no-wordnet --no-limber)
    if [ "$QUICK" = 1 ]; then
      DEMO+=(--corpus-lines 1000 --set source.synthetic.count=640 --set train.batch-size=32 --set train.epochs=1
        --set train.warmup-steps=4 --set train.log-every=10 --set train.checkpoint-every=1000)
      limit=600
    else
      limit=1800
    fi
    log="$OUT/train-2-workers.log"
    start=$SECONDS
    run_limited "$limit" "$log" "$CLIP" "${DEMO[@]}"
    status=$?
    workers_line="$(grep -m1 -E '^5/[0-9]+ training' "$log")"
    curve="$(grep -m1 -oE 'loss [0-9.]+ at step 1 -> [0-9.]+ at step [0-9]+' "$log")"
    zeroshot="$(grep -m1 -oE 'top-1 [0-9.]+, top-5 [0-9.]+ \(chance [0-9.]+\)' "$log")"
    first="$(sed -n 's/loss \([0-9.]*\) at step 1 .*/\1/p' <<<"$curve")"
    last="$(sed -n 's/.* -> \([0-9.]*\) at step .*/\1/p' <<<"$curve")"
    if [ "$status" != 0 ]; then
      fail train-2-workers "bin/clip ${DEMO[*]}: $(why "$status" "$limit" "$log")"
    elif ! grep -q ', 2 workers' <<<"$workers_line"; then
      fail train-2-workers "the demo did not train with 2 workers: '$workers_line' (log: $log)"
    elif [ -z "$curve" ] || ! awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }'; then
      fail train-2-workers "the loss did not fall: '${curve:-no loss line}' (log: $log)"
    else
      pass train-2-workers "2 workers on one $([ "$CPU" = 1 ] && echo "CPU" || echo "GPU"), $curve, zero-shot $zeroshot, $((SECONDS - start)) s"
    fi
  fi
fi

if [ "$FAILED" = 0 ]; then
  echo "gpu-check: every part passed ($BACKEND backend)"
else
  echo "gpu-check: some parts FAILED ($BACKEND backend); logs in $OUT"
fi
exit "$FAILED"
