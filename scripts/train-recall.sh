#!/usr/bin/env bash
# Makes the associative-recall models of models/recall/ (issue 20; models/recall/MODEL_CARD.md): the task's
# text (tandem data recall, training and held-out text from different seeds), its word-level tokenizer, a
# 4-layer primary, one-layer small models (plain, distilled, Tandem-CE, Tandem-Distil) of one width, the
# router, and the controls (a Tandem secondary trained on a randomly initialised primary's states; a two-layer
# plain drafter). Every stage is resumable: run the script again after an interruption and it continues from
# the last checkpoints (runs/recall/*) and skips what is finished. Each stage's wall time goes to stderr:
#   nohup scripts/train-recall.sh > runs/recall.log 2>&1 &
# DRY=1 runs every stage for 2 updates into /tmp/tandem-recall-dry (a check that the chain works).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
models=${TANDEM_RECALL_MODELS:-$root/models/recall}
runs=${TANDEM_RECALL_RUNS:-$root/runs/recall}
cli=${TANDEM_CLI:-$root/tandem}
steps() { echo "$1"; }
sequences=24000
if [[ ${DRY:-0} == 1 ]]; then
  models=/tmp/tandem-recall-dry/models; runs=/tmp/tandem-recall-dry/runs
  steps() { echo 2; }
  sequences=400
fi
mkdir -p "$models" "$runs"
export TANDEM_JAVA_OPTS=${TANDEM_JAVA_OPTS:--Xmx4g}
started=$(date +%s)
t() {  # runs a stage and prints its wall time
  local s=$(date +%s)
  echo "[$(date -u +%H:%M:%S)] ./tandem $*" >&2
  "$cli" "$@"
  echo "[$(date -u +%H:%M:%S)] $(( $(date +%s) - s )) s: $1 $2" >&2
}

# The task: 24 keys, 24 values, 6 to 12 pairs per sequence (drawn per sequence, so the repeat's period varies),
# 96 tokens per sequence (marker, pairs, the repeat, newline). Training text from seed 1, validation from seed 2;
# held-out evaluation and SPEED prompts (MODEL_CARD.md) from seeds 3 and 4, never used in training.
task=(--keys 24 --values 24 --pairs 6 --max-pairs 12 --length 96)
data=$runs/data
mkdir -p "$data"
[[ -f $data/train.txt ]] || t data recall "${task[@]}" --seed 1 --sequences "$sequences" --out "$data/train.txt"
[[ -f $data/val.txt ]] || t data recall "${task[@]}" --seed 2 --sequences 200 --out "$data/val.txt"
[[ -f $data/heldout.txt ]] || t data recall "${task[@]}" --seed 3 --sequences 200 --out "$data/heldout.txt"
[[ -f $data/prompts.txt ]] || t data recall "${task[@]}" --seed 4 --sequences 16 --out "$data/prompts.txt"
[[ -f $models/tokenizer/tokenizer.json ]] || t train tokenizer --whole-words --vocab 4096 --val-fraction 0 \
  --out "$models/tokenizer" "$data/train.txt"
tok=$models/tokenizer/tokenizer.json

# Shared: sequences of 96 tokens (one task sequence each: the text packs without gaps), 16 per update, the
# held-out file as validation.
common=(--seq-len 96 --batch 16 --validation "$data/val.txt" --val-every 100 --val-sequences 64
  --checkpoint-every 50 --resume)
small=(--hidden 64 --layers 1 --heads 2 --intermediate 192 --max-positions 512)
blocks=(--block-length 2,3,4,6,8,12,16)

[[ -f $models/primary/model.safetensors ]] || t train primary --tokenizer "$tok" --hidden 128 --layers 4 --heads 4 \
  --intermediate 384 --max-positions 512 --steps "$(steps 4500)" --lr 3e-3 --min-lr 1e-3 --warmup 30 \
  "${common[@]}" --run "$runs/primary" --out "$models/primary" "$data/train.txt"

# The one-layer models, of one width: 2500 cross-entropy updates each (the plain drafter; Tandem-CE from scratch,
# reading the primary after its layer 2), then 250 distillation updates each (0.5 ground truth + 0.5 the primary's
# soft targets): the distilled drafter from the plain one, Tandem-Distil from Tandem-CE.
[[ -f $models/drafter/model.safetensors ]] || t train drafter --tokenizer "$tok" "${small[@]}" \
  --steps "$(steps 2500)" --lr 3e-3 --warmup 30 "${common[@]}" --run "$runs/drafter" --out "$models/drafter" \
  "$data/train.txt"
[[ -f $models/tandem-ce/model.safetensors ]] || t train tandem-ce --primary "$models/primary" "${small[@]}" \
  --layer-map 2 "${blocks[@]}" --steps "$(steps 2500)" --lr 3e-3 --warmup 30 --seed 3 "${common[@]}" \
  --run "$runs/tandem-ce" --out "$models/tandem-ce" "$data/train.txt"
[[ -f $models/tandem-distil/model.safetensors ]] || t train tandem-distil --primary "$models/primary" \
  --init "$models/tandem-ce" "${blocks[@]}" --steps "$(steps 250)" --lr 1e-3 --warmup 20 --seed 4 \
  "${common[@]}" --run "$runs/tandem-distil" --out "$models/tandem-distil" "$data/train.txt"
[[ -f $models/drafter-distil/model.safetensors ]] || t train drafter-distil --primary "$models/primary" \
  --init "$models/drafter" --steps "$(steps 250)" --lr 1e-3 --warmup 20 --seed 2 "${common[@]}" \
  --run "$runs/drafter-distil" --out "$models/drafter-distil" "$data/train.txt"

# The router for Tandem-Distil, on the primary's own continuations of 32-token prompts (inside the repeat: the
# marker and the pairs are at most 25 tokens).
[[ -f $models/router/model.safetensors ]] || t train router --primary "$models/primary" \
  --secondary "$models/tandem-distil" --block-length 16 --prompt-tokens 32 --positions "$( [[ ${DRY:-0} == 1 ]] \
  && echo 256 || echo 8192)" --val-positions 2048 --steps "$(steps 1000)" --seq-len 96 \
  --validation "$data/val.txt" --run "$runs/router" --out "$models/router" "$data/train.txt"

# Controls. A randomly initialised primary of the same shape (tandem init, seed 9), and Tandem-CE trained on its
# states as above but for 1000 updates (this session's time); a two-layer plain drafter of the same width, trained as
# the plain one.
if [[ ! -f $models/control-random-primary/model.safetensors ]]; then
  t init --config "$models/primary/config.json" --out "$models/control-random-primary" --seed 9 --dtype BF16 \
    --tokenizer "$tok"
fi
[[ -f $models/control-tandem-random/model.safetensors ]] || t train tandem-ce \
  --primary "$models/control-random-primary" "${small[@]}" --layer-map 2 "${blocks[@]}" --steps "$(steps 1000)" \
  --lr 3e-3 --warmup 30 --seed 3 "${common[@]}" --run "$runs/control-tandem-random" \
  --out "$models/control-tandem-random" "$data/train.txt"
[[ -f $models/control-drafter-2layer/model.safetensors ]] || t train drafter --tokenizer "$tok" --hidden 64 \
  --layers 2 --heads 2 --intermediate 192 --max-positions 512 --steps "$(steps 2500)" --lr 3e-3 --warmup 30 \
  "${common[@]}" --run "$runs/control-drafter-2layer" --out "$models/control-drafter-2layer" "$data/train.txt"

# Held-out evaluation (seed 3, never used in training): Table 1's metrics on the positions the context determines
# and on the rest, primary blocks of 2 (tandem eval --recall). The controls that read a random primary are
# compared with the ground truth only (their TV distance is to that random primary).
mkdir -p "$runs/eval"
evals=(drafter:primary drafter-distil:primary tandem-ce:primary tandem-distil:primary
  control-drafter-2layer:primary control-tandem-random:control-random-primary tandem-distil:control-random-primary)
for e in "${evals[@]}"; do
  small=${e%%:*} primary=${e##*:}
  out=$runs/eval/$small-on-$primary.json
  [[ -f $out ]] || t eval --recall --primary "$models/$primary" --secondary "$models/$small" --data "$data/heldout.txt" \
    --block-length 2 --max-positions "$( [[ ${DRY:-0} == 1 ]] && echo 300 || echo 12700)" --json > "$out.tmp"
  [[ -f $out ]] || mv "$out.tmp" "$out"
done
{
  echo "| model | primary read | determined: accuracy | determined: TV | rest: accuracy | rest: TV | primary: determined accuracy |"
  echo "|---|---|---|---|---|---|---|"
  for e in "${evals[@]}"; do
    small=${e%%:*} primary=${e##*:}
    jq -r --arg s "$small" --arg p "$primary" '"| \($s) | \($p) | \(.determined.accuracy*10000|round/100) % | \(.determined.total_variation*1000|round/1000) | \(.rest.accuracy*10000|round/100) % | \(.rest.total_variation*1000|round/1000) | \(.determined.primary_accuracy*10000|round/100) % |"' \
      "$runs/eval/$small-on-$primary.json"
  done
} | tee "$runs/eval.md" >&2

echo "[$(date -u +%H:%M:%S)] done in $(( $(date +%s) - started )) s: $models" >&2
