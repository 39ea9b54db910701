#!/usr/bin/env bash
# Search benchmark on a 10M-record store: the three questions an on-call
# engineer asks first, timed as whole processes (median of RUNS):
#   1. one service's warnings and errors of the last 10 minutes (--limit 100)
#   2. every record of one trace
#   3. how many lines mention a rare word (--grep --count), against ripgrep
#      over the raw NDJSON file (rg -c -F and rg -c -w)
# Builds nothing: run `make bench-search`, or
#
#   bench/search.sh [FAULTLINE_BINARY]
#
# Environment: FAULTLINE, GEN, WORK (default build/bench-work), RECORDS
# (10000000), RUNS (5), SERVICE (payments), TOKEN (OutOfMemoryError),
# KEEP=1 keeps the corpus (~3.7 GB) and store for a rerun, which then reuses
# them. Prints a table, then one JSON line (last line of output).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

faultline=${1:-${FAULTLINE:-build/release/tools/faultline}}
gen=${GEN:-$(dirname "$faultline")/../bench/faultline_gen_corpus}
work=${WORK:-build/bench-work}
records=${RECORDS:-10000000}
runs=${RUNS:-5}
service=${SERVICE:-payments}
token=${TOKEN:-OutOfMemoryError}
target_query_ms=50
target_grep_speedup=5

die() { echo "search.sh: $*" >&2; exit 1; }
[[ -x "$faultline" ]] || die "no faultline binary at $faultline (build it, or pass its path)"
[[ -x "$gen" ]] || die "no corpus generator at $gen (build target faultline_gen_corpus, or set GEN)"
command -v rg >/dev/null || die "ripgrep (rg) is needed for the comparison: apt-get install ripgrep"

mkdir -p "$work"
corpus="$work/search-corpus.ndjson"
db="$work/search-db"
stamp="$work/search.stamp"  # "records end" of the kept corpus and store

cleanup() {
  if [[ "${KEEP:-0}" != 1 ]]; then rm -rf "$corpus" "$db" "$stamp"; fi
}
trap cleanup EXIT

now_ns() { date +%s%N; }
median() { sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

end=""
if [[ -f "$stamp" && -f "$corpus" && -d "$db" ]]; then
  read -r kept_records kept_end <"$stamp"
  if [[ "$kept_records" == "$records" ]]; then end=$kept_end; echo "reusing $corpus and $db (end $end)"; fi
fi
if [[ -z "$end" ]]; then
  rm -rf "$corpus" "$db" "$stamp"
  # The corpus ends now, so "--since 10m" and an absolute time agree.
  end=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  echo "generating $records records ending $end into $corpus"
  "$gen" --records "$records" --seed 1 --end "$end" --span 1h -o "$corpus"
  echo "ingesting into $db"
  start=$(now_ns)
  "$faultline" ingest --db "$db" --quiet "$corpus" || die "ingest failed"
  ingest_s=$(awk -v s="$start" -v e="$(now_ns)" 'BEGIN {printf "%.1f", (e - s) / 1e9}')
  echo "ingested in ${ingest_s} s ($(du -sh "$db" 2>/dev/null | cut -f1) on disk)"
  echo "$records $end" >"$stamp"
fi
since=$(date -u -d "$end - 10 minutes" +%Y-%m-%dT%H:%M:%SZ)
# A trace from the middle of the corpus: it exists, and is not at an edge.
trace=$(sed -n "$((records / 2))s/.*\"trace_id\":\"\\([0-9a-f]*\\)\".*/\\1/p;$((records / 2))q" "$corpus")
[[ -n "$trace" ]] || die "could not pick a trace id from $corpus"

# time_runs NAME CMD...: runs CMD $runs times (output to $work/NAME.out from
# the first run), sets MS to the median wall time in milliseconds.
time_runs() {
  local name=$1; shift
  local times=() run start end
  for ((run = 1; run <= runs; run++)); do
    start=$(now_ns)
    if [[ $run -eq 1 ]]; then
      "$@" >"$work/$name.out" 2>"$work/$name.err" || true
    else
      "$@" >/dev/null 2>&1 || true
    fi
    end=$(now_ns)
    times+=("$(awk -v s="$start" -v e="$end" 'BEGIN {printf "%.2f", (e - s) / 1e6}')")
  done
  MS=$(printf '%s\n' "${times[@]}" | median)
  RUNS_MS=$(IFS=,; echo "${times[*]}")
}
# A timing the CLI reports itself, if it prints one (JSON key *_ms/seconds).
own_ms() {
  grep -ho '"\(took_ms\|elapsed_ms\|query_ms\|ms\)":[0-9.]*' "$work/$1.out" "$work/$1.err" 2>/dev/null |
    head -1 | cut -d: -f2 || true
}

fl() { "$faultline" search --db "$db" "$@"; }

echo
echo "== search benchmark: $records records, store $db, median of $runs whole-process runs"
time_runs recent fl --service "$service" --level warn+ --since "$since" --limit 100
recent_ms=$MS recent_runs=$RUNS_MS recent_lines=$(wc -l <"$work/recent.out")
time_runs trace fl --trace "$trace"
trace_ms=$MS trace_runs=$RUNS_MS trace_lines=$(wc -l <"$work/trace.out")
time_runs grep fl --grep "$token" --count
grep_ms=$MS grep_runs=$RUNS_MS grep_count=$(tr -dc '0-9' <"$work/grep.out")
time_runs rg_fixed rg -c -F "$token" "$corpus"
rg_ms=$MS rg_runs=$RUNS_MS rg_count=$(tr -dc '0-9' <"$work/rg_fixed.out")
time_runs rg_word rg -c -w "$token" "$corpus"
rgw_ms=$MS rgw_runs=$RUNS_MS rgw_count=$(tr -dc '0-9' <"$work/rg_word.out")

for name in recent trace grep; do
  if [[ -s "$work/$name.err" ]]; then echo "note: $name wrote to stderr: $(head -c 300 "$work/$name.err")" >&2; fi
done
if [[ "${grep_count:-x}" != "${rgw_count:-y}" ]]; then
  echo "warning: faultline counted ${grep_count:-?} lines with '$token', rg -w counted ${rgw_count:-?}" >&2
fi

speedup=$(awk -v r="$rg_ms" -v f="$grep_ms" 'BEGIN {if (f > 0) printf "%.1f", r / f; else print 0}')
speedup_w=$(awk -v r="$rgw_ms" -v f="$grep_ms" 'BEGIN {if (f > 0) printf "%.1f", r / f; else print 0}')
lt() { awk -v a="$1" -v b="$2" 'BEGIN {print (a < b) ? "true" : "false"}'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN {print (a >= b) ? "true" : "false"}'; }
recent_ok=$(lt "$recent_ms" $target_query_ms)
trace_ok=$(lt "$trace_ms" $target_query_ms)
grep_ok=$(ge "$speedup" $target_grep_speedup)
mark() { [[ $1 == true ]] && echo "ok" || echo "MISSED"; }

echo
printf '%-52s %10s %12s %8s %s\n' query median_ms target status result
printf '%-52s %10s %12s %8s %s\n' "--service $service --level warn+ --since (10 min) -n 100" \
  "$recent_ms" "< $target_query_ms" "$(mark "$recent_ok")" "$recent_lines lines"
printf '%-52s %10s %12s %8s %s\n' "--trace $trace" "$trace_ms" "< $target_query_ms" \
  "$(mark "$trace_ok")" "$trace_lines lines"
printf '%-52s %10s %12s %8s %s\n' "--grep $token --count" "$grep_ms" "" "" "count ${grep_count:-?}"
printf '%-52s %10s %12s %8s %s\n' "rg -c -F $token (raw file)" "$rg_ms" "" "" "count ${rg_count:-?}"
printf '%-52s %10s %12s %8s %s\n' "rg -c -w $token (raw file)" "$rgw_ms" "" "" "count ${rgw_count:-?}"
printf '%-52s %10s %12s %8s\n' "grep speed-up vs rg -F (x)" "$speedup" ">= $target_grep_speedup" "$(mark "$grep_ok")"
printf '%-52s %10s\n' "grep speed-up vs rg -w (x)" "$speedup_w"
for name in recent trace grep; do
  own=$(own_ms "$name")
  if [[ -n "$own" ]]; then echo "faultline's own timing for $name: $own ms"; fi
done

json_q() { printf '{"median_ms":%s,"runs_ms":[%s]%s}' "$1" "$2" "${3:+,$3}"; }
echo "{\"bench\":\"search\",\"records\":$records,\"runs\":$runs,\"end\":\"$end\",\"since\":\"$since\",\
\"service\":\"$service\",\"trace\":\"$trace\",\"token\":\"$token\",\
\"recent\":$(json_q "$recent_ms" "$recent_runs" "\"lines\":$recent_lines"),\
\"trace_query\":$(json_q "$trace_ms" "$trace_runs" "\"lines\":$trace_lines"),\
\"grep\":$(json_q "$grep_ms" "$grep_runs" "\"count\":${grep_count:-null}"),\
\"rg_fixed\":$(json_q "$rg_ms" "$rg_runs" "\"count\":${rg_count:-null}"),\
\"rg_word\":$(json_q "$rgw_ms" "$rgw_runs" "\"count\":${rgw_count:-null}"),\
\"grep_speedup_vs_rg\":$speedup,\"grep_speedup_vs_rg_word\":$speedup_w,\
\"targets\":{\"query_ms\":$target_query_ms,\"grep_speedup\":$target_grep_speedup},\
\"met\":{\"recent\":$recent_ok,\"trace\":$trace_ok,\"grep\":$grep_ok}}"
