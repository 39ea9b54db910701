// `faultline serve`: the streaming service. A Kafka consumer-group member
// whose records go into the store exactly once.
//
//   consume (serial) -> parse (parallel) -> mine templates (in order,
//   services in parallel) -> encode blocks (parallel) -> write (serial, in
//   order)
//
// Exactly-once: each write commits, in the same RocksDB WriteBatch as the
// records, the next offset of every partition the batch covers. On
// assignment a partition starts at the store's position, or at the group's
// committed offset when that is further on (faultline commits only after its
// store write, so a committed offset ahead of this store means another group
// member stored those records). Before partitions are taken away the
// pipeline drains and their offsets are committed synchronously.
//
// Backpressure: bytes consumed but not yet stored are bounded; past the
// bound every partition is paused until the writer catches up to half.
//
// Blocking; returns when `stop` becomes true (after draining and persisting)
// or on a fatal error (store not writable, fatal Kafka error), having stored
// and committed nothing past what was stored.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "tools/config.h"

namespace faultline::tools {

struct ServeRequest {
  std::string db_dir;
  Config config;
  std::string brokers;
  std::vector<std::string> topics;
  std::string group = "faultline";
  // Prometheus /metrics, /healthz, /readyz; empty: no HTTP.
  std::string metrics_addr = "127.0.0.1:9464";
  // Dead letters also go to this topic (reason in a header); empty: store only.
  std::string dead_letter_topic;
  // Incidents (tools/incident_watch.h): computed every incidents_interval_ms
  // on event time, stored, served at /api/incidents, and produced to this
  // topic (keyed by id, one JSON object each) when it is set.
  bool incidents = true;
  int incidents_interval_ms = 0;  // 0: [incidents] interval (10 s)
  std::string incidents_topic;
  // A pipeline batch: up to this many messages or bytes, or what arrived
  // within batch_wait_ms of the first.
  size_t batch_max_messages = 20000;
  size_t batch_max_bytes = 8 << 20;
  int batch_wait_ms = 50;
  // Bytes consumed but not yet stored before partitions are paused.
  size_t max_inflight_bytes = 64 << 20;
  // Set to true (e.g. by a signal handler) to stop: drain, persist, return.
  const std::atomic<bool>* stop = nullptr;
  // One-line log messages (assignments, pauses, errors). Default: stderr.
  std::function<void(const std::string&)> log;
  // Called once the HTTP endpoint is bound (with its port) and the consumer
  // has subscribed.
  std::function<void(int http_port)> on_ready;
};

struct ServeSummary {
  uint64_t messages = 0;
  uint64_t records = 0;
  uint64_t dead_letters = 0;
  uint64_t batches = 0;
  uint64_t pauses = 0;
  double seconds = 0;
};

Result<ServeSummary> RunServe(const ServeRequest& request);

}  // namespace faultline::tools
