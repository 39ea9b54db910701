# Shared set-up of the bench scripts; sourced, not run:
#   source "$(dirname "$0")/common.sh" "$@"
# Moves to the repository root and sets faultline (the binary: first argument,
# else $FAULTLINE, else build/release/tools/faultline), gen (the corpus
# generator: $GEN, else next to the binary's build dir) and work ($WORK, else
# build/bench-work), checking that both executables exist. Defines die,
# median (of numbers on stdin, one a line) and now_ns.
# shellcheck shell=bash
set -euo pipefail
bench_name=$(basename "$0")

die() { echo "$bench_name: $*" >&2; exit 1; }
median() { sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
now_ns() { date +%s%N; }

# Paths given by the caller are relative to where it ran; defaults to the root.
faultline=${1:-${FAULTLINE:-}}
[[ -n "$faultline" ]] && faultline=$(realpath -m "$faultline")
gen=${GEN:+$(realpath -m "$GEN")}
work=${WORK:+$(realpath -m "$WORK")}
cd "$(dirname "$0")/.."
faultline=${faultline:-build/release/tools/faultline}
gen=${gen:-$(dirname "$faultline")/../bench/faultline_gen_corpus}
work=${work:-build/bench-work}
[[ -x "$faultline" ]] || die "no faultline binary at $faultline (build it, or pass its path)"
[[ -x "$gen" ]] || die "no corpus generator at $gen (build target faultline_gen_corpus, or set GEN)"
mkdir -p "$work"
