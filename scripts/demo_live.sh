#!/usr/bin/env bash
# The live outage: an AI API platform (chat, images, embeddings, audio,
# moderation behind one gateway; GPU pools in three regions) streams its
# logs, spans and metrics into Kafka while `faultline serve` watches. A fault
# starts mid-stream; serve opens an incident within seconds of event time,
# names the cause and follows it to recovery. Then the explanation, the
# status-page text and a shareable HTML report.
#
# Usage: scripts/demo_live.sh BUILD_DIR
# Env: DEMO_SCENARIO (gpu-failure; `faultline simulate --list`), DEMO_SEED (1),
#      DEMO_MINUTES (16 of event time), DEMO_REALTIME (16: event time this many
#      times real time), DEMO_RATE (20 requests a second), DEMO_DIR (build/demo-live).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
fl="$build/tools/faultline"
scenario=${DEMO_SCENARIO:-gpu-failure}
seed=${DEMO_SEED:-1}
minutes=${DEMO_MINUTES:-16}
realtime=${DEMO_REALTIME:-16}
rate=${DEMO_RATE:-20}
dir=${DEMO_DIR:-build/demo-live}

bold=$(tput bold 2>/dev/null || true); reset=$(tput sgr0 2>/dev/null || true)
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$reset"; }
run() { printf '%s$ %s%s\n' "$bold" "$*" "$reset"; "$@"; }

rm -rf "$dir" && mkdir -p "$dir"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

step "A1. An embedded Kafka broker (librdkafka's mock cluster; kcat or any client can talk to it)"
"$fl" broker --partitions 4 --topic telemetry --ready-file "$dir/bootstrap" >"$dir/broker.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -s "$dir/bootstrap" ]] && break; sleep 0.1; done
[[ -s "$dir/bootstrap" ]] || { echo "the broker did not start: $(cat "$dir/broker.out")" >&2; exit 1; }
bootstrap=$(cat "$dir/bootstrap")
echo "bootstrap: $bootstrap"

step "A2. faultline serve: consumes the topic into the store, an incident pass every 10 s of event time"
printf '[incidents]\ninterval = "10s"\n' >"$dir/faultline.toml"
"$fl" serve --brokers "$bootstrap" --topic telemetry --group "demo-$$" --db "$dir/db" \
  --config "$dir/faultline.toml" --metrics-addr 127.0.0.1:0 >"$dir/serve.out" 2>"$dir/serve.err" &
serve_pid=$!
pids+=("$serve_pid")
for _ in $(seq 300); do grep -q "assigned" "$dir/serve.err" 2>/dev/null && break; sleep 0.1; done
api=$(grep -o 'http://127.0.0.1:[0-9]*' "$dir/serve.err" | head -1)
echo "API and metrics: $api"
# One Prometheus metric of serve's (bash's /dev/tcp: nothing else needed).
metric() {
  local port=${api##*:} line
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 0
  printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  while IFS= read -r line <&3; do
    [[ "$line" == "$1 "* ]] && printf '%s\n' "${line#* }"
  done
  exec 3<&-
}

step "A3. The platform's telemetry, $minutes minutes of it at ${realtime}x real time; scenario '$scenario' (seed $seed)"
"$fl" simulate --list | awk -v s="$scenario" '$0 == s {getline; print; exit}'
echo "Incident updates from serve's log, as they happen:"
# serve's incident lines, live (opened, cause changed, state changes).
# tail ends with serve.
tail --pid="$serve_pid" -n +1 -F "$dir/serve.err" 2>/dev/null |
  grep --line-buffered -E "incident " | sed -u 's/^faultline serve: /  | /' &
watch_pid=$!
"$fl" simulate --scenario "$scenario" --seed "$seed" --minutes "$minutes" --rate "$rate" \
  --brokers "$bootstrap" --topic telemetry --realtime "$realtime" --out "$dir/sim" 2>"$dir/simulate.err"
# Let serve's incident passes reach the end of the stream: its watermark
# trails the newest event by 30 s of allowed lateness.
events_end=$(grep -o 'events until [0-9]*' "$dir/simulate.err" | grep -o '[0-9]*$')
for _ in $(seq 900); do
  kill -0 "$serve_pid" 2>/dev/null || { echo "serve stopped: $(tail -3 "$dir/serve.err")" >&2; exit 1; }
  w=$(metric faultline_incident_watermark_seconds); w=${w%.*}
  [[ -n "$w" && "$w" -ge $((events_end - 45)) ]] && break
  sleep 0.2
done
kill -TERM "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
wait "$watch_pid" 2>/dev/null || true

step "A4. The incidents it found, then the first one explained: cause ranked first, chain to the users, evidence"
run "$fl" incidents --db "$dir/db" --stored
incident=$("$fl" incidents --db "$dir/db" --stored -o json | head -1 | sed -n 's/^{"id":"\([^"]*\)".*/\1/p')
if [[ -z "$incident" ]]; then
  echo "no incident was found (see $dir/serve.err)"
  exit 1
fi
run "$fl" explain --db "$dir/db" "$incident"

step "A5. The status-page updates, ready to paste"
run "$fl" status --db "$dir/db" "$incident"

step "A6. The report to share in the incident channel: one self-contained HTML page"
if "$fl" report --help >/dev/null 2>&1; then
  run "$fl" report --db "$dir/db" "$incident" --html "$dir/report.html"
  echo "report: $(realpath "$dir/report.html")"
fi

step "What really happened (the simulator's truth file)"
cat "$dir/sim/truth.json"
top=$("$fl" explain --db "$dir/db" "$incident" -o json | sed -n 's/.*"causes":\[{"service":"\([^"]*\)".*/\1/p')
truth=$(sed -n 's/.*"root":"\([^"]*\)".*/\1/p' "$dir/sim/truth.json")
if [[ -n "$truth" && "$top" == "$truth" ]]; then
  echo "root cause: $top (matches the truth)"
else
  echo "root cause: ${top:-unknown} (the truth says ${truth:-none})"
fi
