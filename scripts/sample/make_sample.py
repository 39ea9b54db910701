#!/usr/bin/env python3
"""Writes the bundled demo sample: 30 minutes of a small shop's fleet, in every
log shape faultline reads, with a payments database outage at 09:20 and a few
malformed lines. Deterministic (fixed seed); output is committed as
scripts/sample/shop.log.gz so the demo needs nothing but the repository."""
import json
import random
import sys

rnd = random.Random(7)
import datetime as _dt
BASE = int(_dt.datetime(2026, 11, 24, 9, 0, tzinfo=_dt.timezone.utc).timestamp())
OUTAGE = BASE + 20 * 60
RECOVER = BASE + 26 * 60
out = []


def ts(t, digits=3):
    whole = int(t)
    frac = t - whole
    import datetime
    d = datetime.datetime.fromtimestamp(whole, datetime.timezone.utc)
    s = d.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        s += "." + f"{frac:.9f}"[2:2 + digits]
    return s + "Z"


def trace():
    return "%032x" % rnd.getrandbits(128)


def span_id():
    return "%016x" % rnd.getrandbits(64)


t = float(BASE)
while t < BASE + 30 * 60:
    t += rnd.expovariate(1.0)
    outage = OUTAGE <= t < RECOVER
    tr, sp_gw, sp_co, sp_pay = trace(), span_id(), span_id(), span_id()
    order = rnd.randint(100000, 999999)
    lat = rnd.uniform(20, 80) if not outage else rnd.uniform(2900, 3100)
    status = 200 if not outage or rnd.random() < 0.3 else 502
    # api-gateway: flat JSON access log
    out.append(json.dumps({"ts": ts(t), "level": "INFO" if status == 200 else "ERROR",
                           "service": "api-gateway", "msg": f"POST /api/v1/checkout {status} {lat:.1f}ms",
                           "trace_id": tr, "span_id": sp_gw, "endpoint": "/api/v1/checkout",
                           "status": status, "latency_ms": round(lat, 1), "region": "eu-west-1"},
                          separators=(",", ":")))
    # checkout: ECS, nested
    if outage and status != 200:
        msg = f"order {order} failed: upstream payments timed out after 3000 ms"
        lvl = "error"
    else:
        msg = f"order {order} placed, 1 item(s), total {rnd.randint(5, 400)}.{rnd.randint(0, 99):02d} EUR"
        lvl = "info"
    out.append(json.dumps({"@timestamp": ts(t + 0.002, 6), "log": {"level": lvl},
                           "service": {"name": "checkout"}, "message": msg,
                           "trace": {"id": tr}, "span": {"id": sp_co},
                           "host": {"name": f"checkout-{rnd.randint(1, 3)}"}}, separators=(",", ":")))
    # payments: OpenTelemetry JSON log record
    if outage:
        body, sev, num = "HikariPool-1 - Connection is not available, request timed out after 3000ms", "ERROR", 17
    else:
        body, sev, num = f"charged card for order {order}", "INFO", 9
    out.append(json.dumps({"timeUnixNano": str(int((t + 0.004) * 1e9)), "severityText": sev,
                           "severityNumber": num, "body": {"stringValue": body},
                           "traceId": tr, "spanId": sp_pay,
                           "attributes": [{"key": "order.id", "value": {"intValue": str(order)}}],
                           "resource": {"attributes": [{"key": "service.name",
                                                        "value": {"stringValue": "payments"}}]}},
                          separators=(",", ":")))
    # spans
    out.append(json.dumps({"kind": "span", "ts": ts(t, 6), "service": "api-gateway", "name": "POST /api/v1/checkout",
                           "trace_id": tr, "span_id": sp_gw, "duration_us": int(lat * 1000)}, separators=(",", ":")))
    out.append(json.dumps({"kind": "span", "ts": ts(t + 0.001, 6), "service": "payments", "name": "charge",
                           "trace_id": tr, "span_id": sp_pay, "parent_span_id": sp_co,
                           "duration_us": int((lat - 10) * 1000)}, separators=(",", ":")))
    # inventory: logfmt
    if rnd.random() < 0.5:
        out.append(f'ts={ts(t + 0.003)} level=info service=inventory msg="reserved stock" sku=SKU-{rnd.randint(1000, 9999)} qty={rnd.randint(1, 3)} trace_id={tr}')
    # edge: container-wrapped text
    if rnd.random() < 0.3:
        line = f"{ts(t - 0.001)} {'WARN' if status != 200 else 'INFO'} upstream api-gateway answered {status} for POST /api/v1/checkout\n"
        out.append(json.dumps({"log": line, "stream": "stdout", "time": ts(t - 0.001, 9)}, separators=(",", ":")))

# metrics, one a minute
for m in range(30):
    mt = BASE + m * 60
    outage = OUTAGE <= mt < RECOVER
    out.append(json.dumps({"kind": "metric", "ts": ts(mt), "service": "payments", "name": "db_pool_active",
                           "value": 50 if outage else rnd.randint(5, 15), "unit": "connections"}, separators=(",", ":")))
    out.append(json.dumps({"kind": "metric", "ts": ts(mt), "service": "api-gateway", "name": "error_rate",
                           "value": 0.7 if outage else round(rnd.uniform(0, 0.01), 4)}, separators=(",", ":")))

# legacy batch job: plain text with a Java stack trace during the outage
for minute in (5, 21, 23):
    bt = BASE + minute * 60 + 30
    d = ts(bt).replace("T", " ").replace("Z", "").replace(".", ",")
    if minute == 5:
        out.append(f"{d} INFO  [main] c.s.batch.Reconcile - reconciled 1432 payments")
    else:
        out.append(f"{d} ERROR [main] c.s.batch.Reconcile - reconcile run failed")
        out.append("java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available")
        out.append("\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)")
        out.append("\tat com.shop.batch.Reconcile.run(Reconcile.java:88)")
        out.append("Caused by: java.net.SocketTimeoutException: connect timed out")
        out.append("\t... 12 more")

# a few malformed lines, as real fleets have
bad = [
    '{"ts":"2026-11-24T09:10:00Z","level":"INFO","service":"checkout","msg":"truncated',
    '{"ts":"2026-11-24T09:10:01Z","level":"INFO","service":"checkout","msg":"no closing brace"',
    'heartbeat ok',
    '{"ts":"yesterday","level":"INFO","service":"checkout","msg":"bad time"}',
    '{"ts":"2026-11-24T09:11:00Z","level":"INFO","service":"checkout","msg":"bad \xff bytes"}',
    '\x00\x01\x02binary\x00garbage',
    '',
]
for i, b in enumerate(bad):
    out.insert(1000 + i * 977, b)

import gzip
with gzip.GzipFile(sys.argv[1] if len(sys.argv) > 1 else "shop.log.gz", "wb", mtime=0) as f:
    for line in out:
        f.write(line.encode("utf-8", "surrogateescape") if "\xff" not in line
                else line.encode("latin-1"))
        f.write(b"\n")
