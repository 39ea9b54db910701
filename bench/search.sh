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
source "$(dirname "$0")/common.sh" "$@"
records=${RECORDS:-10000000}
runs=${RUNS:-5}
service=${SERVICE:-payments}
token=${TOKEN:-OutOfMemoryError}
target_query_ms=50
target_grep_speedup=5

command -v rg >/dev/null || die "ripgrep (rg) is needed for the comparison: apt-get install ripgrep"

corpus="$work/search-corpus.ndjson"
db="$work/search-db"
stamp="$work/search.stamp"  # "records end" of the kept corpus and store

cleanup() {
  if [[ "${KEEP:-0}" != 1 ]]; then rm -rf "$corpus" "$db" "$stamp"; fi
}
trap cleanup EXIT

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
# the first run), sets MS to the median wall time in milliseconds, RUNS_MS to
# all of them and RC to the first non-zero exit code (0 if none): a failed
# command must not pass as a fast one.
time_runs() {
  local name=$1; shift
  local times=() run start end code
  RC=0
  for ((run = 1; run <= runs; run++)); do
    start=$(now_ns)
    code=0
    if [[ $run -eq 1 ]]; then
      "$@" >"$work/$name.out" 2>"$work/$name.err" || code=$?
    else
      "$@" >/dev/null 2>&1 || code=$?
    fi
    end=$(now_ns)
    if [[ $RC -eq 0 && $code -ne 0 ]]; then RC=$code; fi
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
recent_ms=$MS recent_runs=$RUNS_MS recent_rc=$RC recent_lines=$(wc -l <"$work/recent.out")
time_runs trace fl --trace "$trace"
trace_ms=$MS trace_runs=$RUNS_MS trace_rc=$RC trace_lines=$(wc -l <"$work/trace.out")
time_runs grep fl --grep "$token" --count
grep_ms=$MS grep_runs=$RUNS_MS grep_rc=$RC grep_count=$(tr -dc '0-9' <"$work/grep.out")
time_runs rg_fixed rg -c -F "$token" "$corpus"
rg_ms=$MS rg_runs=$RUNS_MS rg_count=$(tr -dc '0-9' <"$work/rg_fixed.out")
time_runs rg_word rg -c -w "$token" "$corpus"
rgw_ms=$MS rgw_runs=$RUNS_MS rgw_count=$(tr -dc '0-9' <"$work/rg_word.out")

for name in recent trace grep; do
  if [[ -s "$work/$name.err" ]]; then echo "note: $name wrote to stderr: $(head -c 300 "$work/$name.err")" >&2; fi
done
[[ $recent_rc -eq 0 ]] || echo "error: the recent-window query exited with $recent_rc" >&2
[[ $trace_rc -eq 0 ]] || echo "error: the trace query exited with $trace_rc" >&2
[[ $grep_rc -eq 0 ]] || echo "error: the grep query exited with $grep_rc" >&2
[[ $trace_lines -gt 0 || $trace_rc -ne 0 ]] || echo "warning: the trace query found no records of $trace" >&2
if [[ "${grep_count:-x}" != "${rgw_count:-y}" ]]; then
  echo "warning: faultline counted ${grep_count:-?} lines with '$token', rg -w counted ${rgw_count:-?}" >&2
fi

speedup=$(awk -v r="$rg_ms" -v f="$grep_ms" 'BEGIN {if (f > 0) printf "%.1f", r / f; else print 0}')
speedup_w=$(awk -v r="$rgw_ms" -v f="$grep_ms" 'BEGIN {if (f > 0) printf "%.1f", r / f; else print 0}')
lt() { awk -v a="$1" -v b="$2" 'BEGIN {print (a < b) ? "true" : "false"}'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN {print (a >= b) ? "true" : "false"}'; }
ok_if() { [[ $1 -eq 0 ]] && echo "$2" || echo false; }  # exit code, verdict
recent_ok=$(ok_if "$recent_rc" "$(lt "$recent_ms" $target_query_ms)")
trace_ok=$(ok_if "$trace_rc" "$(lt "$trace_ms" $target_query_ms)")
grep_ok=$(ok_if "$grep_rc" "$(ge "$speedup" $target_grep_speedup)")
# mark VERDICT EXIT_CODE
mark() {
  if [[ ${2:-0} -ne 0 ]]; then echo "FAILED(exit $2)"; elif [[ $1 == true ]]; then echo ok; else echo MISSED; fi
}

echo
printf '%-52s %10s %12s %8s %s\n' query median_ms target status result
printf '%-52s %10s %12s %8s %s\n' "--service $service --level warn+ --since (10 min) -n 100" \
  "$recent_ms" "< $target_query_ms" "$(mark "$recent_ok" "$recent_rc")" "$recent_lines lines"
printf '%-52s %10s %12s %8s %s\n' "--trace $trace" "$trace_ms" "< $target_query_ms" \
  "$(mark "$trace_ok" "$trace_rc")" "$trace_lines lines"
printf '%-52s %10s %12s %8s %s\n' "--grep $token --count" "$grep_ms" "" "" "count ${grep_count:-?}"
printf '%-52s %10s %12s %8s %s\n' "rg -c -F $token (raw file)" "$rg_ms" "" "" "count ${rg_count:-?}"
printf '%-52s %10s %12s %8s %s\n' "rg -c -w $token (raw file)" "$rgw_ms" "" "" "count ${rgw_count:-?}"
printf '%-52s %10s %12s %8s\n' "grep speed-up vs rg -F (x)" "$speedup" ">= $target_grep_speedup" "$(mark "$grep_ok" "$grep_rc")"
printf '%-52s %10s\n' "grep speed-up vs rg -w (x)" "$speedup_w"
for name in recent trace grep; do
  own=$(own_ms "$name")
  if [[ -n "$own" ]]; then echo "faultline's own timing for $name: $own ms"; fi
done

json_q() { printf '{"median_ms":%s,"runs_ms":[%s]%s}' "$1" "$2" "${3:+,$3}"; }
echo "{\"bench\":\"search\",\"records\":$records,\"runs\":$runs,\"end\":\"$end\",\"since\":\"$since\",\
\"service\":\"$service\",\"trace\":\"$trace\",\"token\":\"$token\",\
\"recent\":$(json_q "$recent_ms" "$recent_runs" "\"lines\":$recent_lines,\"exit_code\":$recent_rc"),\
\"trace_query\":$(json_q "$trace_ms" "$trace_runs" "\"lines\":$trace_lines,\"exit_code\":$trace_rc"),\
\"grep\":$(json_q "$grep_ms" "$grep_runs" "\"count\":${grep_count:-null},\"exit_code\":$grep_rc"),\
\"rg_fixed\":$(json_q "$rg_ms" "$rg_runs" "\"count\":${rg_count:-null}"),\
\"rg_word\":$(json_q "$rgw_ms" "$rgw_runs" "\"count\":${rgw_count:-null}"),\
\"grep_speedup_vs_rg\":$speedup,\"grep_speedup_vs_rg_word\":$speedup_w,\
\"targets\":{\"query_ms\":$target_query_ms,\"grep_speedup\":$target_grep_speedup},\
\"met\":{\"recent\":$recent_ok,\"trace\":$trace_ok,\"grep\":$grep_ok}}"
