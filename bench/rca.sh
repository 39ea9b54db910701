#!/usr/bin/env bash
# Issue 7's root-cause benchmark on labelled fault cases (default: the Nezha
# TrainTicket cases in ../shared/data/nezha-tt). Ingests the case set's logs,
# spans and metrics into a store once (kept in $WORK/rca-<name>), then for
# every labelled case runs
#   faultline explain --at <inject time> --window 5m --output json
# and prints a per-case table (rank of the labelled service among the
# causes, top cause, its category against the label's) and the totals:
# top-1, top-3 and top-5 service accuracy and category accuracy.
# Targets (issue 7): top-1 >= 90%, top-3 >= 97%, category >= 90%.
# Usage: bench/rca.sh [path/to/faultline]; env DATA (the case directory:
# *.jsonl.gz files and labels.json), WINDOW (5m), EXPLAIN_ARGS (more explain
# flags, e.g. "--history 6h"), JSON=1 for the totals as JSON.
source "$(dirname "$0")/common.sh" "$@"
data=$(realpath -m "${DATA:-../shared/data/nezha-tt}")
window=${WINDOW:-5m}
[[ -f "$data/labels.json" ]] || die "no labels.json in $data (set DATA)"
command -v python3 >/dev/null || die "python3 is needed to read labels.json"
db="$work/rca-$(basename "$data")"
if [[ ! -f "$db/.ingested" ]]; then
  rm -rf "$db"
  echo "ingesting $data into $db ..." >&2
  start=$(now_ns)
  "$faultline" ingest --quiet --db "$db" "$data"/*.jsonl.gz >/dev/null
  echo "ingested in $(( ($(now_ns) - start) / 1000000 )) ms" >&2
  touch "$db/.ingested"
fi
EXPLAIN_ARGS="${EXPLAIN_ARGS:-}" FAULTLINE_BIN="$faultline" DB="$db" WINDOW="$window" LABELS="$data/labels.json" python3 - <<'PY'
import json, os, subprocess, sys, time
labels = json.load(open(os.environ["LABELS"]))["cases"]
fl, db, window = os.environ["FAULTLINE_BIN"], os.environ["DB"], os.environ["WINDOW"]
rows, top, cat, secs = [], {1: 0, 3: 0, 5: 0}, 0, []
print(f"{'case':22} {'root cause':32} {'label':10} {'rank':>4}  {'top cause':32} {'category':15} {'conf':>5} {'s':>5}")
for c in labels:
    at = c.get("inject_time_utc") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(c["inject_ts"]))
    t0 = time.monotonic()
    out = subprocess.run([fl, "explain", "--db", db, "--at", at, "--window", window, "-o", "json"] + os.environ["EXPLAIN_ARGS"].split(),
                         capture_output=True, text=True)
    secs.append(time.monotonic() - t0)
    if out.returncode != 0:
        sys.exit(f"explain failed for {c['case_id']}: {out.stderr.strip()}")
    x = json.loads(out.stdout)
    causes = [k["service"] for k in x["causes"]] if x.get("identified", True) or x["causes"] else []
    rank = causes.index(c["root_cause_service"]) + 1 if c["root_cause_service"] in causes else None
    for k in top:
        top[k] += rank is not None and rank <= k
    first = x["causes"][0] if x["causes"] else {"service": "unknown", "category": "unknown", "confidence": 0}
    ok_cat = first["category"] == c["category"]
    cat += ok_cat
    print(f"{c['case_id']:22} {c['root_cause_service']:32} {c['fault_type'][:10]:10} {rank or '-':>4}  "
          f"{first['service'][:32]:32} {first['category'][:14] + ('' if ok_cat else '*'):15} "
          f"{first['confidence']:5.2f} {secs[-1]:5.2f}")
n = len(labels)
secs.sort()
summary = {"cases": n, "top1": top[1] / n, "top3": top[3] / n, "top5": top[5] / n,
           "category": cat / n, "median_seconds": secs[len(secs) // 2]}
print(f"\n{n} cases: top-1 {top[1]}/{n} ({100*top[1]/n:.1f}%), top-3 {top[3]}/{n} ({100*top[3]/n:.1f}%), "
      f"top-5 {top[5]}/{n} ({100*top[5]/n:.1f}%), category {cat}/{n} ({100*cat/n:.1f}%); "
      f"explain median {summary['median_seconds']:.2f} s a case")
print("targets: top-1 >= 90%, top-3 >= 97%, category >= 90%. (* = category differs from the label)")
if os.environ.get("JSON"):
    print(json.dumps(summary))
PY
