#!/usr/bin/env bash
# Issue 6's benchmark, two parts:
#   1. What rollups cost at ingest: `faultline ingest` of the 1M-record corpus
#      (same as ingest.sh), RUNS times alternately with rollups on (the
#      default) and off (`[signals] enabled = false`), whole process, medians
#      and the difference. Target: at most 15% of ingest throughput.
#   2. The anomaly scan over 1 h x 500 services x 20 signals of stored 10 s
#      rollups, 1 and 2 threads (faultline_bench_signals). Target: < 1 s on 2
#      cores.
# Usage: bench/signals.sh [path/to/faultline]; env RECORDS (1000000), RUNS (5).
source "$(dirname "$0")/common.sh" "$@"
records=${RECORDS:-1000000}
runs=${RUNS:-5}
scan_bench=$(dirname "$faultline")/../bench/faultline_bench_signals
[[ -x "$scan_bench" ]] || die "no scan benchmark at $scan_bench (build target faultline_bench_signals)"

corpus="$work/corpus-$records.ndjson"
[[ -f "$corpus" ]] || "$gen" --records "$records" --seed 1 --end 2026-11-24T10:00:00Z -o "$corpus"
off="$work/signals-off.toml"
printf '[signals]\nenabled = false\n' >"$off"

time_ingest() {  # prints the wall seconds of one whole-process ingest
  local db="$work/db-signals"
  rm -rf "$db"
  sync
  local start end
  start=$(now_ns)
  "$faultline" ingest --db "$db" --quiet "$@" "$corpus" >/dev/null 2>"$work/signals.err" ||
    { cat "$work/signals.err" >&2; die "faultline ingest failed"; }
  end=$(now_ns)
  rm -rf "$db"
  awk -v s="$start" -v e="$end" 'BEGIN {printf "%.3f", (e - s) / 1e9}'
}

echo "== 1. rollup cost at ingest: $records records, $runs runs each, alternating"
printf '%-6s %12s %12s\n' run rollups_s no_rollups_s
on=() offs=()
for ((run = 1; run <= runs; run++)); do
  a=$(time_ingest)
  b=$(time_ingest --config "$off")
  printf '%-6s %12s %12s\n' "$run" "$a" "$b"
  on+=("$a") offs+=("$b")
done
on_med=$(printf '%s\n' "${on[@]}" | median)
off_med=$(printf '%s\n' "${offs[@]}" | median)
awk -v on="$on_med" -v off="$off_med" -v n="$records" 'BEGIN {
  printf "median: %.3f s with rollups (%d rec/s), %.3f s without (%d rec/s): rollups cost %.1f%% of throughput (target <= 15%%)\n",
    on, n / on, off, n / off, 100 * (1 - off / on) }'

echo "the same corpus, rollup and call matching alone on one thread (no parse, no store):"
"$scan_bench" --rollup "$corpus" --runs "$runs"

echo
echo "== 2. anomaly scan"
"$scan_bench" --runs "$runs" --dir "$work/signals-store"
rm -rf "$work/signals-store"
