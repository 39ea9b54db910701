#!/usr/bin/env bash
# `faultline serve` throughput and produce-to-searchable latency on the
# embedded Kafka broker (8 partitions), the producer running at the same time
# on the same cores. Usage: bench/stream.sh [path/to/faultline]
# Environment: RECORDS (a throughput run, default 2000000), RUNS (3),
# RATE (records/s for the latency run, 100000), SECONDS_AT_RATE (20).
source "$(dirname "$0")/common.sh" "$@"
bench_bin=$(dirname "$faultline")/../bench/faultline_bench_stream
[[ -x "$bench_bin" ]] || die "no $bench_bin (build target faultline_bench_stream)"
corpus="$work/stream-corpus.ndjson"
[[ -s "$corpus" ]] || "$gen" --records 500000 -o "$corpus"
"$bench_bin" --faultline "$faultline" --corpus "$corpus" --records "${RECORDS:-2000000}" \
  --runs "${RUNS:-3}" --rate "${RATE:-100000}" --seconds "${SECONDS_AT_RATE:-20}" "${@:2}"
