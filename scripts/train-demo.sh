#!/usr/bin/env bash
# Trains the demo models of models/demo/ with the `tandem train` recipes, in order, on the text files of
# CORPUS_DIR (default: corpora/, see scripts/fetch-corpus.sh). Every stage is resumable: run the script
# again after an interruption and it continues from the last checkpoints (runs/demo/*) and skips what is
# finished. Logs go to stderr; run it as
#   nohup scripts/train-demo.sh /path/to/corpora > runs/demo.log 2>&1 &
# DRY=1 runs every stage for 2 updates into /tmp (a check that the whole chain works, a few minutes).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
corpus=${1:-$root/corpora}
files=("$corpus"/austen.txt.gz "$corpus"/kjv.txt.gz "$corpus"/sotu.txt.gz)
for f in "${files[@]}"; do [[ -f $f ]] || { echo "missing $f (run scripts/fetch-corpus.sh)" >&2; exit 1; }; done

models=${TANDEM_DEMO_MODELS:-$root/models/demo}
runs=${TANDEM_DEMO_RUNS:-$root/runs/demo}
cli=${TANDEM_CLI:-$root/tandem}
steps() { echo "$1"; }
positions=65536
if [[ ${DRY:-0} == 1 ]]; then
  models=/tmp/tandem-dry/models; runs=/tmp/tandem-dry/runs
  steps() { echo 2; }
  positions=512
fi
mkdir -p "$models" "$runs"
export TANDEM_JAVA_OPTS=${TANDEM_JAVA_OPTS:--Xmx6g}
t() { echo "[$(date -u +%H:%M:%S)] ./tandem $*" >&2; $cli "$@"; }

# Shared settings: sequences of 256 tokens, 8 per update; 1% of the text (by 8 KiB segment) held out.
# Stages started from another model (--init) get their own --seed, so they draw the text in another order.
common=(--seq-len 256 --batch 8 --resume)
small=(--hidden 64 --layers 2 --heads 2 --intermediate 192 --max-positions 512)
blocks=(--block-length 2,3,4,5,6,7,8)
# The router's replay charges each round the primary's verification pass as measured on the development
# machine (2 cores): `tandem bench decode --model models/demo/primary --device cpu --prompt-length 96
# --tokens 64 --repeats 60 --blocks 1,2,...,18`, the cost of a pass over 1..18 positions relative to one.
# Measure it again on another machine (a GPU's curve is nearly flat).
pass_costs=${TANDEM_PASS_COSTS:-1,1.13,1.32,1.34,1.64,1.75,1.98,2.04,2.31,2.45,2.51,2.57,2.89,2.97,3.17,3.16,3.47,3.56}

[[ -f $models/tokenizer/tokenizer.json ]] || t train tokenizer --vocab 2048 --out "$models/tokenizer" "${files[@]}"
tok=$models/tokenizer/tokenizer.json

# The primary in two stages (one cosine schedule each; the second a warm restart from the first's weights).
t train primary --tokenizer "$tok" --hidden 256 --layers 6 --heads 4 --intermediate 768 --max-positions 512 \
  --steps "$(steps 1100)" --lr 1.5e-3 --warmup 40 --val-every 100 --val-sequences 16 --checkpoint-every 50 \
  "${common[@]}" --run "$runs/primary" --out "$runs/primary-stage1" "${files[@]}"
t train primary --tokenizer "$tok" --init "$runs/primary-stage1" --steps "$(steps 1300)" --lr 1e-3 --min-lr 1e-4 \
  --warmup 20 --seed 5 --val-every 100 --val-sequences 16 --checkpoint-every 50 "${common[@]}" \
  --run "$runs/primary-2" --out "$models/primary" "${files[@]}"

# The small models, 3200 updates each: the plain drafter in two cross-entropy stages (2000, then 1200 as a
# warm restart); the distilled drafter and the tandem secondary start from its first stage and add 1200
# updates (the distilled drafter in one stage, the tandem secondary in two of 600).
t train drafter --tokenizer "$tok" "${small[@]}" --steps "$(steps 2000)" --lr 3e-3 --warmup 30 --val-every 100 \
  --val-sequences 16 --checkpoint-every 50 "${common[@]}" --run "$runs/drafter" --out "$runs/drafter-stage1" "${files[@]}"
t train drafter --tokenizer "$tok" --init "$runs/drafter-stage1" --steps "$(steps 1200)" --lr 1e-3 --min-lr 1e-4 \
  --warmup 20 --seed 7 --val-every 100 --val-sequences 16 --checkpoint-every 50 "${common[@]}" \
  --run "$runs/drafter-2" --out "$models/drafter" "${files[@]}"

t train drafter-distil --primary "$models/primary" --init "$runs/drafter-stage1" --steps "$(steps 1200)" --lr 1e-3 \
  --warmup 20 --seed 2 --val-every 100 --val-sequences 16 --checkpoint-every 50 "${common[@]}" \
  --run "$runs/drafter-distil" --out "$models/drafter-distil" "${files[@]}"

t train tandem-ce --primary "$models/primary" --init-decoder "$runs/drafter-stage1" "${blocks[@]}" --steps "$(steps 600)" \
  --lr 1.5e-3 --warmup 20 --seed 3 --val-every 100 --val-sequences 16 --checkpoint-every 50 "${common[@]}" \
  --run "$runs/tandem-ce" --out "$models/tandem-ce" "${files[@]}"

t train tandem-distil --primary "$models/primary" --init "$models/tandem-ce" "${blocks[@]}" --steps "$(steps 600)" \
  --lr 1e-3 --warmup 20 --seed 4 --val-every 100 --val-sequences 16 --checkpoint-every 50 "${common[@]}" \
  --run "$runs/tandem-distil" --out "$models/tandem-distil" "${files[@]}"

[[ -f $models/router/model.safetensors ]] || t train router --primary "$models/primary" \
  --secondary "$models/tandem-distil" --block-length 16 --positions "$positions" --val-positions 8192 \
  --steps "$(steps 3000)" --seq-len 256 --draft-cost 0.06 --pass-costs "$pass_costs" --run "$runs/router" \
  --out "$models/router" "${files[@]}"

t train eval --primary "$models/primary" --secondary "$models/drafter" --secondary "$models/drafter-distil" \
  --secondary "$models/tandem-ce" --secondary "$models/tandem-distil" --secondary "$runs/drafter-stage1" \
  --block-length 2,8 --sequences 270 \
  --seq-len 256 --run "$runs/eval" "${files[@]}" | tee "$runs/eval.md"
echo "[$(date -u +%H:%M:%S)] done: $models" >&2
