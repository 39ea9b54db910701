#!/usr/bin/env bash
# End-to-end ingest benchmark: one million ~360-byte NDJSON records, file to
# store, timed as whole processes (wall clock and peak RSS), against DuckDB
# loading the same file. Builds nothing: run `make bench-ingest`, or
#
#   bench/ingest.sh [FAULTLINE_BINARY]
#
# Environment: FAULTLINE (binary; default build/release/tools/faultline),
# GEN (corpus generator; default next to the binary's build dir),
# WORK (scratch dir; default build/bench-work), RECORDS (1000000), RUNS (5),
# SKIP_DUCKDB=1, DUCKDB_MODE (file|memory, default file).
# Prints a table, then one JSON line (last line of output).
source "$(dirname "$0")/common.sh" "$@"
records=${RECORDS:-1000000}
runs=${RUNS:-5}
duckdb_mode=${DUCKDB_MODE:-file}
# Fixed end time and seed: every run and machine benchmarks the same bytes.
corpus_end=2026-11-24T10:00:00Z
target_rate=1000000
target_rss_mb=1024

if [[ ! -x /usr/bin/time ]]; then
  echo "$bench_name: installing GNU time for peak RSS" >&2
  if [[ $(id -u) -eq 0 ]]; then apt-get install -y -qq time >/dev/null; else sudo apt-get install -y -qq time >/dev/null; fi
fi

corpus="$work/corpus-${records}.ndjson"
stamp="$corpus.args"
args="--records $records --seed 1 --end $corpus_end --span 1h"
if [[ ! -f "$corpus" || "$(cat "$stamp" 2>/dev/null)" != "$args" ]]; then
  echo "generating $records records into $corpus"
  # shellcheck disable=SC2086  # $args is a word list on purpose
  "$gen" $args -o "$corpus"
  echo "$args" >"$stamp"
fi
bytes=$(stat -c %s "$corpus")

max() { sort -g | tail -1; }

ingest_args=(--quiet)
if "$faultline" ingest --help 2>&1 | grep -q -- '--output'; then ingest_args+=(--output json); fi

echo
echo "faultline ingest: $records records, $((bytes / 1000000)) MB, $runs runs ($faultline)"
printf '%-6s %10s %14s %12s %s\n' run wall_s records/s peak_rss_MB "faultline's own summary"
walls=() rss=()
for ((run = 1; run <= runs; run++)); do
  db="$work/db-run"
  rm -rf "$db"
  sync  # earlier runs' dirty pages must not be flushed on this run's clock
  start=$(now_ns)
  /usr/bin/time -f '%M' -o "$work/time.out" \
    "$faultline" ingest --db "$db" "${ingest_args[@]}" "$corpus" >"$work/ingest.out" 2>"$work/ingest.err" ||
    { cat "$work/ingest.err" >&2; die "faultline ingest failed (run $run)"; }
  end=$(now_ns)
  wall=$(awk -v s="$start" -v e="$end" 'BEGIN {printf "%.3f", (e - s) / 1e9}')
  peak_kb=$(tail -1 "$work/time.out")
  peak_mb=$((peak_kb / 1024))
  own=$(sed -n 's/.*"records":\([0-9]*\),.*"seconds":\([0-9.]*\),"records_per_second":\([0-9]*\).*/\1 records, \2 s, \3 rec\/s/p' "$work/ingest.out" | head -1)
  stored=$(sed -n 's/.*"records":\([0-9]*\),.*/\1/p' "$work/ingest.out" | head -1)
  if [[ -n "$stored" && "$stored" != "$records" ]]; then
    echo "warning: faultline reports $stored records, expected $records" >&2
  fi
  rate=$(awk -v n="$records" -v w="$wall" 'BEGIN {printf "%d", n / w}')
  printf '%-6s %10s %14s %12s %s\n' "$run" "$wall" "$rate" "$peak_mb" "${own:-}"
  walls+=("$wall") rss+=("$peak_mb")
done
rm -rf "$work/db-run"
fl_wall=$(printf '%s\n' "${walls[@]}" | median)
fl_rate=$(awk -v n="$records" -v w="$fl_wall" 'BEGIN {printf "%d", n / w}')
fl_rss=$(printf '%s\n' "${rss[@]}" | median)
fl_rss_max=$(printf '%s\n' "${rss[@]}" | max)

duck_json=null duck_rate=0
if [[ "${SKIP_DUCKDB:-0}" != 1 ]]; then
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "$bench_name: node/npm missing; skipping DuckDB (FAULTLINE_BENCH_DEPS=1 scripts/install-deps.sh)" >&2
  else
    if [[ ! -d bench/node_modules/@duckdb/node-api ]]; then
      echo "installing @duckdb/node-api into bench/node_modules"
      (cd bench && npm install --no-audit --no-fund --loglevel=error)
    fi
    echo
    echo "DuckDB: CREATE TABLE logs AS SELECT * FROM read_ndjson_auto(...), $duckdb_mode database, $runs runs"
    node bench/duckdb_load.mjs "$corpus" --runs "$runs" --mode "$duckdb_mode" --work "$work/duckdb" \
      | tee "$work/duckdb.out"
    duck_json=$(tail -1 "$work/duckdb.out")
    duck_rate=$(sed -n 's/.*"records_per_second":\([0-9]*\).*/\1/p' <<<"$duck_json")
    rm -rf "$work/duckdb"
  fi
fi

ratio=$(awk -v a="$fl_rate" -v b="$duck_rate" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "null"}')
rate_ok=$([[ $fl_rate -ge $target_rate ]] && echo true || echo false)
rss_ok=$([[ $fl_rss_max -lt $target_rss_mb ]] && echo true || echo false)
mark() { [[ $1 == true ]] && echo "ok" || echo "MISSED"; }

echo
echo "== ingest summary ($records records, $bytes bytes, median of $runs whole-process runs)"
printf '%-28s %16s %16s %8s\n' "" measured target status
printf '%-28s %16s %16s %8s\n' "faultline records/s" "$fl_rate" ">= $target_rate" "$(mark "$rate_ok")"
printf '%-28s %16s %16s %8s\n' "faultline peak RSS (MB)" "$fl_rss_max" "< $target_rss_mb" "$(mark "$rss_ok")"
if [[ "$duck_json" != null ]]; then
  printf '%-28s %16s\n' "DuckDB records/s ($duckdb_mode)" "$duck_rate"
  printf '%-28s %16s\n' "faultline / DuckDB" "${ratio}x"
fi
walls_json=$(IFS=,; echo "${walls[*]}")
rss_json=$(IFS=,; echo "${rss[*]}")
echo "{\"bench\":\"ingest\",\"records\":$records,\"bytes\":$bytes,\"runs\":$runs,\
\"faultline\":{\"wall_s\":[$walls_json],\"median_wall_s\":$fl_wall,\"records_per_second\":$fl_rate,\
\"peak_rss_mb\":[$rss_json],\"peak_rss_mb_median\":$fl_rss,\"peak_rss_mb_max\":$fl_rss_max},\
\"duckdb\":$duck_json,\"ratio_faultline_to_duckdb\":$ratio,\
\"targets\":{\"records_per_second\":$target_rate,\"peak_rss_mb\":$target_rss_mb},\
\"met\":{\"records_per_second\":$rate_ok,\"peak_rss\":$rss_ok}}"
