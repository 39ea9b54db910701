#!/usr/bin/env bash
# The newcomer's tour: ingest the bundled sample (30 minutes of a small shop's
# fleet, in six log shapes, with a payments database outage at 09:20), then
# search it the way an on-call engineer would; before that, the live outage
# (scripts/demo_live.sh: its env settings apply). Usage: scripts/demo.sh
# BUILD_DIR; DEMO_SHORT=1 skips the million-line speed step.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
fl="$build/tools/faultline"
gen="$build/bench/faultline_gen_corpus"
db=build/demo-store
sample=scripts/sample/shop.log.gz

bold=$(tput bold 2>/dev/null || true); reset=$(tput sgr0 2>/dev/null || true)
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$reset"; }
run() { printf '%s$ %s%s\n' "$bold" "$*" "$reset"; "$@"; }

# Part A, the flagship: a live outage streamed through Kafka into serve
# (scripts/demo_live.sh). Part B, the tour below: the tools on a sample.
scripts/demo_live.sh "$build"

printf '\n%s==> Part B: the tools, on a sample of a small shop fleet%s\n' "$bold" "$reset"
rm -rf "$db"
step "1. Ingest a mixed-format sample: flat JSON, ECS, OpenTelemetry, container-wrapped text, logfmt, plain text with a stack trace, and a few broken lines"
run "$fl" ingest --db "$db" "$sample"

step "2. Ingesting the same file again is recognised and skipped (nothing doubles)"
run "$fl" ingest --db "$db" "$sample"

step "3. What is in the store"
run "$fl" stats --db "$db"

step "4. The outage: the first errors after 09:19, across services"
run "$fl" search --db "$db" --level error+ --since 2026-11-24T09:19:00Z --limit 8

step "5. Word search, accelerated by per-block bloom filters"
run "$fl" search --db "$db" --grep "connection is not available" --count
run "$fl" search --db "$db" --grep "reconcile run failed" --limit 2

step "6. One failed request end to end: every record of its trace, from any service and shape"
trace=$("$fl" search --db "$db" --service checkout --level error --limit 1 -o json |
        sed -n 's/.*"trace_id":"\([0-9a-f]*\)".*/\1/p')
run "$fl" search --db "$db" --trace "$trace"

step "7. Log templates: 10,000 lines read as a handful of kinds; the outage's new ones stand out"
run "$fl" patterns --db "$db" --limit 5
run "$fl" patterns --db "$db" --new-since 2026-11-24T09:19:00Z --limit 3

step "8. What changed, when it began, and who calls whom: anomalies against each series' own baseline, and the call graph"
run "$fl" anomalies --db "$db" --limit 10
run "$fl" topology --db "$db"

step "9. What went wrong, and why: the incidents, then the cause ranked first, the chain to the users, the evidence lines"
run "$fl" incidents --db "$db"
run "$fl" explain --db "$db" --at 2026-11-24T09:21:00Z --window 6m
incident=$("$fl" incidents --db "$db" -o json | head -1 | sed -n 's/^{"id":"\([^"]*\)".*/\1/p')
run "$fl" status --db "$db" "$incident"

step "10. Lines faultline could not read are kept with a reason, never dropped in silence"
run "$fl" deadletter list --db "$db"

if [[ -x "$gen" && -z "${DEMO_SHORT:-}" ]]; then
  step "11. Speed: one million 360-byte JSON lines, file to store"
  corpus=build/demo-corpus.ndjson
  [[ -f "$corpus" ]] || "$gen" --records 1000000 -o "$corpus"
  printf '[templates]\nenabled = false\n' > build/demo-no-templates.toml
  for mode in "with template mining" "without template mining"; do
    rm -rf build/demo-store-1m
    extra=()
    [[ "$mode" == without* ]] && extra=(--config build/demo-no-templates.toml)
    printf '  %s: ' "$mode"
    "$fl" ingest --db build/demo-store-1m --quiet --output json "${extra[@]}" "$corpus" |
      sed -n 's/.*"records":\([0-9]*\),.*"seconds":\([0-9.]*\),"records_per_second":\([0-9]*\).*/\1 records in \2 s = \3 records\/s/p'
  done
  rm -rf build/demo-store-1m
fi

step "Next"
cat <<TXT
  The store is in $db. Try:
    $fl search --db $db --service payments --level warn+ -o json | head
    $fl search --db $db --kind span --since 2026-11-24T09:20:00Z --limit 5
    $fl signals --db $db --service payments     (per-service series as sparklines)
    $fl explain --db $db --at 2026-11-24T09:21:00Z -o markdown > incident.md
    $fl tail --db $db --level error -f        (follows while another process ingests)
    $fl patterns mine --line-format '<Date> <Time> <Level> <Component>: <Content>' app.log
    $fl deadletter export --db $db --out rejected.log
    $fl <command> --help
  Docs: docs/formats.md (what is read), docs/config.md (the config file), docs/storage.md.
TXT
