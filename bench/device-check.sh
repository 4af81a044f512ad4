#!/usr/bin/env bash
# The GPU check, one script for the GPU machine (CUDA 13, driver 580, no JDK, no network). Prepare
# here first: bench/prepare-device.sh (builds .jre and java/target, which the run carries).
#   bench/device-check.sh OUTDIR
# Steps, in order, each under its own timeout, each logged to OUTDIR, the script going on after a
# failing step: nvidia-smi; the driver and device as the engine's probe sees them; the GPU test suite
# (JUnit console launcher, no Maven); the kernel benchmarks; the end-to-end decode benchmark
# (Llama-3.2-1B shape, random bf16 weights; again with JCuda's launches for comparison); SPEED with
# the demo models when they are here. A short table comes last. Expected: about 3 minutes;
# the step timeouts (15 + 45 + 150 + 75 + 75 s) bound it to 6 minutes.
# Without a GPU (a dry run on a development machine) the GPU steps are skipped and say so.
# SKIP_STEPS=kernels,demo (comma-separated step names) leaves steps out of a short rerun; DECODE_EXTRA adds
# options to the decode benchmark (one word, e.g. --omit-kernels=attention_bf16_decode_d64;rope_kv_store_f32).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:?usage: bench/device-check.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$root"

java=$root/.jre/bin/java
# A runtime carried compressed (bench/prepare-device.sh --slim: .jre.tar.xz, about 20 MB instead of 45).
if [[ ! -x $java && -f $root/.jre.tar.xz ]]; then
  mkdir -p /tmp/tandem-jre && tar -xJf "$root/.jre.tar.xz" -C /tmp/tandem-jre && java=/tmp/tandem-jre/.jre/bin/java
fi
# Demo models carried compressed (.models.tar.xz of models/demo/...), when the tree could not hold them.
# (The tree sent to a GPU machine may hold the folders of tracked model files moved away here, empty.)
if [[ ! -f $root/models/demo/primary/config.json && -f $root/.models.tar.xz ]]; then
  tar -xJf "$root/.models.tar.xz" -C "$root"
fi
if [[ ! -x $java ]]; then
  for d in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64; do [[ -n $d && -x $d/bin/java ]] && { java=$d/bin/java; break; }; done
fi
flags=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xss8m -XX:+UseParallelGC)
target=$root/java/target
jars=$(printf '%s:' "$target"/lib/*.jar)
cp="$target/classes:${jars%:}"
tests_cp="$target/test-classes:$cp:$target/test-lib/assertj-core-3.27.7.jar"
console=$(ls "$target"/test-lib/junit-platform-console-standalone-*.jar 2>/dev/null | head -1)

declare -a rows=()
summary() { rows+=("$(printf '%-14s %-10s %6s  %s' "$1" "$2" "$3" "$4")"); }

# run NAME TIMEOUT LOG COMMAND...: runs one step, records its status and duration.
run() {
  local name=$1 limit=$2 log=$3; shift 3
  local start=$SECONDS rc
  if [[ ,${SKIP_STEPS:-}, == *,$name,* ]]; then
    echo "== $name: skipped (SKIP_STEPS)" > "$out/$log"
    last_seconds=0 last_status=skipped
    echo "[$name] skipped" >&2
    return
  fi
  echo "== $name: $*" > "$out/$log"
  timeout --kill-after=10 "$limit" "$@" >> "$out/$log" 2>&1
  rc=$?
  last_seconds=$((SECONDS - start))
  if (( rc == 124 || rc == 137 )); then last_status="TIMEOUT"; elif (( rc != 0 )); then last_status="FAILED($rc)"; else last_status="ok"; fi
  echo "== $name: $last_status after ${last_seconds}s (rc $rc)" >> "$out/$log"
  echo "[$name] $last_status in ${last_seconds}s -> $out/$log" >&2
}

# 1. nvidia-smi
if command -v nvidia-smi > /dev/null; then
  run nvidia-smi 15 nvidia-smi.txt nvidia-smi
  summary nvidia-smi "$last_status" "${last_seconds}s" "$(grep -m1 -oE '(H100|H200|A100|L4|L40S?|RTX [0-9A-Za-z ]+)[^|]*' "$out/nvidia-smi.txt" | head -1 | xargs) driver $(grep -m1 -oE 'Driver Version: [0-9.]+' "$out/nvidia-smi.txt" | cut -d' ' -f3)"
else
  echo "nvidia-smi not found" > "$out/nvidia-smi.txt"
  summary nvidia-smi "skipped" "-" "no nvidia-smi on this machine"
fi

# 2. The probe (driver, device, cuBLAS) as the engine sees it.
run probe 45 probe.txt "$java" "${flags[@]}" -cp "$cp" dev.tandem.cli.Main device
probe_line=$(grep -vE '^(==|WARNING)' "$out/probe.txt" | head -1)
gpu=yes
[[ $probe_line == "no GPU"* || $last_status != ok ]] && gpu=no
summary probe "$last_status" "${last_seconds}s" "$probe_line"

# 3. The test suite of the CUDA backend (+ the backend choice); GPU tests skip themselves without a GPU.
if [[ -n $console ]]; then
  run tests 150 tests.txt "$java" "${flags[@]}" -Xmx16g -jar "$console" execute --disable-banner --disable-ansi-colors --details=tree \
    --class-path "$tests_cp" --select-package dev.tandem.backend.cuda --select-class dev.tandem.backend.BackendProviderTest
  counts=$(grep -E '^\[ *[0-9]+ tests (successful|failed|skipped|aborted)' "$out/tests.txt" | sed -E 's/^\[ *([0-9]+) tests ([a-z]+).*/\1 \2/' | paste -sd, -)
  summary tests "$last_status" "${last_seconds}s" "${counts:-no counts (see tests.txt)}"
else
  echo "JUnit console launcher missing: run bench/prepare-device.sh" > "$out/tests.txt"
  summary tests "skipped" "-" "no java/target/test-lib (run bench/prepare-device.sh)"
fi

# 4. Kernel benchmarks; 5. end-to-end decode benchmark.
if [[ $gpu == yes ]]; then
  run kernels 75 bench-kernels.txt "$java" "${flags[@]}" -Xmx16g -cp "$cp" dev.tandem.cli.Main bench kernels --device cuda
  copy=$(grep -m1 '^copy bandwidth' "$out/bench-kernels.txt" | awk '{print $3" GB/s copy"}')
  lmhead=$(grep -m1 'lm head n=1 ' "$out/bench-kernels.txt" | awk '{print "lm-head n=1 "$(NF-1)" GB/s ("$NF")"}')
  summary bench-kernels "$last_status" "${last_seconds}s" "$copy; $lmhead"
  run decode 75 bench-decode.txt "$java" "${flags[@]}" -Xmx32g -cp "$cp" dev.tandem.cli.Main bench decode --device cuda \
    --shape llama-3.2-1b --tokens 64 --repeats 7 --profile 8 --trace "$out/trace-decode.json" ${DECODE_EXTRA:-}
  tps=$(grep -E '^decode' "$out/bench-decode.txt" | sed -E 's/ +/ /g' | cut -d' ' -f1-7 | paste -sd';' -)
  frac=$(grep -m1 '^achieved' "$out/bench-decode.txt" | sed -E 's/ +/ /g')
  summary bench-decode "$last_status" "${last_seconds}s" "$frac"
  [[ -n $tps ]] && summary "" "" "" "$tps"
  # The same steps launched through JCuda's cuLaunchKernel instead of cuLaunchKernelEx (FFM): the host's
  # launch cost, measured on the same machine.
  run decode-jcuda 60 bench-decode-jcuda.txt env TANDEM_CUDA_LAUNCH=jcuda "$java" "${flags[@]}" -Xmx32g -cp "$cp" \
    dev.tandem.cli.Main bench decode --device cuda --shape llama-3.2-1b --tokens 64 --repeats 3 --blocks 1,8
  summary decode-jcuda "$last_status" "${last_seconds}s" "$(grep -E '^decode' "$out/bench-decode-jcuda.txt" | sed -E 's/ +/ /g' | cut -d' ' -f1-7 | paste -sd';' -)"
  # 6. SPEED on the GPU with the demo models (when they are here): primary alone vs the two drafters.
  if [[ -f $root/models/demo/primary/config.json && -f $root/models/demo/tandem-distil/config.json ]]; then
    run demo 90 demo-gpu.txt "$java" "${flags[@]}" -Xmx16g -Dtandem.home="$root" -cp "$cp" dev.tandem.cli.Main demo \
      --device cuda --max-tokens 96
    summary demo-gpu "$last_status" "${last_seconds}s" "$(grep -E '^SPEED, Tandem' "$out/demo-gpu.txt" | sed -E 's/ +/ /g')"
    # The same with SPEED's host loop (every draft read back) instead of the device rounds (one wait a round).
    run demo-host 90 demo-gpu-host-rounds.txt env TANDEM_SPEED_ROUNDS=host "$java" "${flags[@]}" -Xmx16g \
      -Dtandem.home="$root" -cp "$cp" dev.tandem.cli.Main demo --device cuda --max-tokens 96
    summary demo-host "$last_status" "${last_seconds}s" "$(grep -E '^SPEED, Tandem' "$out/demo-gpu-host-rounds.txt" | sed -E 's/ +/ /g')"
    if [[ -d $root/models/demo/router ]]; then
      run router 60 speed-router-gpu.txt "$java" "${flags[@]}" -Xmx16g -cp "$cp" dev.tandem.cli.Main speed --device cuda \
        --primary "$root/models/demo/primary" --drafter "$root/models/demo/tandem-distil" \
        --router "$root/models/demo/router" --gamma-max 17 --prompt "It is a truth universally acknowledged, that" \
        --max-tokens 96 --compare
      summary speed-router "$last_status" "${last_seconds}s" "$(grep -E 'speedup' "$out/speed-router-gpu.txt" | head -1)"
      for rt in token:0.15 token:0.25 survival:0.2 survival:0.3 survival:0.4; do
        rule=${rt%%:*} t=${rt##*:}
        run "router-$rule-$t" 60 "speed-router-$rule-$t-gpu.txt" "$java" "${flags[@]}" -Xmx16g -cp "$cp" \
          dev.tandem.cli.Main speed --device cuda --primary "$root/models/demo/primary" \
          --drafter "$root/models/demo/tandem-distil" --router "$root/models/demo/router" --router-rule "$rule" \
          --router-threshold "$t" --gamma-max 17 --prompt "It is a truth universally acknowledged, that" \
          --max-tokens 96 --compare
        summary "$rule $t" "$last_status" "${last_seconds}s" "$(grep -E 'speedup' "$out/speed-router-$rule-$t-gpu.txt" | head -1); $(grep -oE 'mean accepted length [0-9.]+' "$out/speed-router-$rule-$t-gpu.txt")"
      done
      # Fixed gamma on the same prompt, for the router rows.
      for g in 3 5 7; do
        run "gamma-$g" 60 "speed-gamma-$g-gpu.txt" "$java" "${flags[@]}" -Xmx16g -cp "$cp" dev.tandem.cli.Main speed \
          --device cuda --primary "$root/models/demo/primary" --drafter "$root/models/demo/tandem-distil" --gamma "$g" \
          --prompt "It is a truth universally acknowledged, that" --max-tokens 96 --compare
        summary "gamma $g" "$last_status" "${last_seconds}s" "$(grep -E 'speedup' "$out/speed-gamma-$g-gpu.txt" | head -1); $(grep -oE 'mean accepted length [0-9.]+' "$out/speed-gamma-$g-gpu.txt")"
      done
    fi
  fi
else
  for f in bench-kernels.txt bench-decode.txt; do echo "skipped: no GPU ($probe_line)" > "$out/$f"; done
  summary bench-kernels "skipped" "-" "no GPU: GPU parts skipped"
  summary bench-decode "skipped" "-" "no GPU: GPU parts skipped"
fi

{
  echo
  echo "device check, $(date -u +%Y-%m-%dT%H:%M:%SZ), logs in $out"
  printf '%-14s %-10s %6s  %s\n' step status time result
  printf '%s\n' "${rows[@]}"
  [[ $gpu == no ]] && echo "NOTE: no usable GPU here: the GPU tests were skipped and the benchmarks not run."
  [[ -f $out/bench-kernels.txt ]] && grep -E '^(matmul|attention)' "$out/bench-kernels.txt" | awk '{printf "  %-22s %s %s %s %s %s %s %s\n", $1, $2, $3, $4, $5, $(NF-2)"us", $(NF-1)"GB/s", $NF}' | head -40
  grep -E '^ +[0-9]+ +[0-9.]+ +[0-9.]+x$|^block pass' "$out/bench-decode.txt" 2>/dev/null | sed 's/^/  /'
  sed -n '/^profile: plain decode step/,/^all kernels/p' "$out/bench-decode.txt" 2>/dev/null | head -24 | sed 's/^/  /'
  grep -E '^(primary alone|SPEED)|tokens/s' "$out/demo-gpu.txt" 2>/dev/null | sed 's/^/  /'
  [[ -f $out/demo-gpu-host-rounds.txt ]] && echo "  host rounds (TANDEM_SPEED_ROUNDS=host):" \
    && grep -E '^(primary alone|SPEED)' "$out/demo-gpu-host-rounds.txt" | sed 's/^/  /'
} | tee "$out/summary.txt"

# At most 8 files come back from a device machine: the logs of the steps beyond the main ones travel
# as one archive (logs.tar.gz; the main logs stay plain files too).
(cd "$out" && tar -czf logs.tar.gz --exclude=logs.tar.gz --exclude=trace-decode.json ./*.txt 2>/dev/null \
  && find . -maxdepth 1 -type f -name '*.txt' ! -name summary.txt ! -name tests.txt ! -name bench-decode.txt \
     ! -name bench-kernels.txt ! -name demo-gpu.txt -delete)
