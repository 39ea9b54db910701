#!/usr/bin/env bash
# Issue 7's streaming figure: one day of a labelled case set (default: the
# Nezha TrainTicket day 2023-01-29 in ../shared/data/nezha-tt) streamed
# through the embedded broker into `faultline serve`, which computes
# incidents on event time as it stores. The day's logs, spans and metrics
# are merged in time order first (a stream arrives roughly in time order),
# produced at RATE messages/s (the embedded broker keeps only ~5 MiB a
# partition, so serve must keep up). When serve's incident passes have
# caught up with the data, its log is read: for every labelled case of the
# day, did an incident open with its onset from 60 s before to 180 s after
# the label (the labels lag the data), was it seen (its pass's watermark)
# within 3 minutes + the step of the injection, and was its top cause the
# labelled service; and how many incidents opened outside the labelled
# windows, per hour of data.
# Usage: bench/stream_incidents.sh [path/to/faultline]; env DATA, DAY
# (2023-01-29), RATE (100000), STEP (incident pass step in event time, 60s).
source "$(dirname "$0")/common.sh" "$@"
data=$(realpath -m "${DATA:-../shared/data/nezha-tt}")
day=${DAY:-2023-01-29}
rate=${RATE:-100000}
step=${STEP:-60s}
command -v python3 >/dev/null || die "python3 is needed to merge the files and read labels.json"
[[ -f "$data/labels.json" ]] || die "no labels.json in $data (set DATA)"
run="$work/stream-incidents-$day"
rm -rf "$run" && mkdir -p "$run"
merged="$run/merged.ndjson"
python3 - "$data" "$day" "$merged" <<'PY'
import glob, gzip, heapq, re, sys
data, day, out = sys.argv[1:]
files = sorted(f for f in glob.glob(f"{data}/*-{day}.jsonl.gz") if "/normal-" not in f)
ts = re.compile(r'"ts_ns":(\d+)')
def lines(path):
    for line in gzip.open(path, "rt"):
        m = ts.search(line)
        yield (int(m.group(1)) if m else 0, line)
n = 0
with open(out, "w") as f:
    for _, line in heapq.merge(*(lines(p) for p in files), key=lambda x: x[0]):
        f.write(line); n += 1
print(f"merged {n} lines of {len(files)} files", file=sys.stderr)
PY
lines=$(wc -l <"$merged")
"$faultline" broker --partitions 8 --topic nezha --ready-file "$run/bootstrap" >"$run/broker.out" 2>&1 &
broker_pid=$!
trap 'kill $broker_pid ${serve_pid:-} 2>/dev/null; wait 2>/dev/null' EXIT
for _ in $(seq 100); do [[ -s "$run/bootstrap" ]] && break; sleep 0.1; done
bootstrap=$(cat "$run/bootstrap")
printf '[incidents]\ninterval = "%s"\ncatch_up = "48h"\n' "$step" >"$run/faultline.toml"
"$faultline" serve --brokers "$bootstrap" --topic nezha --group "bench-$$" --db "$run/db" \
  --config "$run/faultline.toml" --metrics-addr 127.0.0.1:0 >"$run/serve.out" 2>"$run/serve.err" &
serve_pid=$!
for _ in $(seq 300); do grep -q "assigned" "$run/serve.err" 2>/dev/null && break; sleep 0.1; done
port=$(grep -o 'metrics: http://127.0.0.1:[0-9]*' "$run/serve.err" | grep -o '[0-9]*$')
metric() { curl -s "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
start=$(now_ns)
"$faultline" produce --brokers "$bootstrap" --topic nezha --key-by-service --rate "$rate" "$merged" \
  >"$run/produce.out" 2>&1 || die "produce failed: $(tail -3 "$run/produce.out")"
echo "produced $lines lines in $(( ($(now_ns) - start) / 1000000 )) ms" >&2
last_ts=$(tail -1 "$merged" | grep -o '"ts_ns":[0-9]*' | grep -o '[0-9]*$')
target=$(( last_ts / 1000000000 - 30 - ${step%s} ))
while :; do
  w=$(metric faultline_incident_watermark_seconds); w=${w%.*}
  stored=$(metric faultline_records_stored_total)
  kill -0 "$serve_pid" 2>/dev/null || die "serve died: $(tail -5 "$run/serve.err")"
  [[ -n "$w" && "$w" -ge "$target" ]] && break
  sleep 2
done
echo "incident passes caught up in $(( ($(now_ns) - start) / 1000000000 )) s; $(metric faultline_incident_passes) passes; ${stored%.*} records stored of $lines lines" >&2
kill -TERM "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
first_ts=$(head -1 "$merged" | grep -o '"ts_ns":[0-9]*' | grep -o '[0-9]*$')
HOURS=$(( (last_ts - first_ts) / 1000000000 )) LABELS="$data/labels.json" DAY="$day" STEP="${step%s}" python3 - "$run/serve.err" <<'PY'
import datetime, json, os, re, sys
def ts(s): return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
opened = []
for line in open(sys.argv[1]):
    m = re.search(r"incident (\S+) opened at (\S+): (?:cause (\S+)|cause unknown).*watermark (\S+)\)", line)
    if m: opened.append((m.group(1), ts(m.group(2)), m.group(3) or "unknown", ts(m.group(4))))
cases = [c for c in json.load(open(os.environ["LABELS"]))["cases"] if c["inject_time_utc"].startswith(os.environ["DAY"])]
step = int(os.environ["STEP"])
found = seen = right = 0
for c in cases:
    t = c["inject_ts"]
    m = [o for o in opened if t - 60 <= o[1] <= t + 180]
    found += bool(m)
    seen += any(o[3] <= t + 180 + step for o in m)
    right += any(o[2] == c["root_cause_service"] for o in m)
    print(f"{c['case_id']:20} {c['root_cause_service']:30} " + (", ".join(f"{o[2]} (onset {int(o[1]-t):+d} s, seen {int(o[3]-t):+d} s)" for o in m) or "no incident"))
outside = [o for o in opened if not any(c["inject_ts"] - 60 <= o[1] <= c["inject_ts"] + 360 for c in cases)]
span = int(os.environ["HOURS"]) / 3600
print(f"\n{len(opened)} incidents opened; {found}/{len(cases)} labelled faults have one opening from -60 s to +180 s "
      f"({seen} seen within 180 s + the {step} s step), {right} with the labelled service on top; "
      f"{len(outside)} opened outside the labelled windows (+6 min), {len(outside)/max(span,1e-9):.2f} an hour over the {span:.1f} h the day's data spans")
PY
