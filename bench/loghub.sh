#!/usr/bin/env bash
# Template-mining accuracy on Loghub-2k: runs `faultline patterns mine` with
# the default configuration on every dataset in $DATA (default
# ../shared/data/loghub-2k), messages taken from the raw lines with the line
# formats of the data's README, and scores the groups with
# ../shared/tools/eval_grouping.py (2019 ground truth).
#
#   bench/loghub.sh [FAULTLINE_BINARY]
#
# Environment: DATA, EVAL (the scorer), WORK (scratch dir; default
# build/bench-work). Prints the scorer's table; exits non-zero if a step fails.
source "$(dirname "$0")/common.sh" "$@"
data=$(realpath -m "${DATA:-../shared/data/loghub-2k}")
eval_script=$(realpath -m "${EVAL:-../shared/tools/eval_grouping.py}")
[[ -f "$data/README.md" ]] || die "no Loghub-2k data at $data (set DATA)"
[[ -f "$eval_script" ]] || die "no scorer at $eval_script (set EVAL)"
out="$work/loghub"
rm -rf "$out"
mkdir -p "$out"

# The README's line formats: "<Name><TAB><format>" lines inside its code block.
mapfile -t formats < <(awk -F'\t' 'NF == 2 && $2 ~ /<Content>/ {print}' "$data/README.md")
((${#formats[@]} > 0)) || die "no line formats found in $data/README.md"
for entry in "${formats[@]}"; do
  name=${entry%%$'\t'*}
  format=${entry#*$'\t'}
  log="$data/$name/${name}_2k.log"
  [[ -f "$log" ]] || die "missing $log"
  "$faultline" patterns mine --line-format "$format" "$log" >"$out/$name.jsonl" 2>"$out/$name.err" ||
    die "patterns mine failed on $name: $(tail -1 "$out/$name.err")"
done
python3 "$eval_script" --batch "$data" "$out" --gt-variant original
