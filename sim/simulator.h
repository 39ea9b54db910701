// The outage simulator: deterministic telemetry of a large AI API platform
// (edge, gateway, auth, rate limiter, billing, completions, embeddings,
// image generation, moderation, audio, a request scheduler, GPU
// model-serving pools in three regions, a cache, a metadata database, a
// queue, a config service and a deploy controller) with one fault injected,
// and the truth about it, so that root-cause ranking can be tested on
// outages with known answers (`faultline simulate`, `faultline eval`).
//
// Every request is followed through the call graph: each hop is a span
// (trace and span ids, parent, duration) and, on the services that log per
// request, a log line in that service's own shape (flat JSON, ECS, logfmt,
// OpenTelemetry JSON). A failing callee fails its callers up to the edge, a
// slow one slows them, and demand reaches every callee. Per-pod metrics
// come every 10 s. Background noise runs throughout: chronic warnings, a
// cron job, a flapping health check, a routine deploy of another service, a
// few malformed lines.
//
// Deterministic: the same options give the same bytes (one std::mt19937_64
// seeded from the seed and the scenario; no clock, no threads).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace faultline::sim {

struct ScenarioInfo {
  std::string name;
  std::string description;
  std::string root;      // the service at fault; "" for the calm run
  std::string family;    // infrastructure | demand | software; "" calm
  std::string kind;      // gpu, traffic, network, deploy, config_change, ...
  std::string region;    // the region it hits; "" all
  bool unrelated = false;  // also an unrelated change at the same time
};

// Every scenario, in a stable order: each fault, its "+unrelated" variant,
// and "calm".
const std::vector<ScenarioInfo>& Scenarios();

struct SimOptions {
  std::string scenario = "gpu-failure";
  uint64_t seed = 1;
  int minutes = 20;
  double rate = 40;  // requests a second at the edge, before any surge
  // Event time of the first line; the fault starts at fault_fraction of
  // the run (rounded down to a second).
  int64_t start_ns = int64_t{1'772'366'400} * 1'000'000'000;  // 2026-03-01T12:00:00Z
  double fault_fraction = 0.6;
};

// What happened, for `faultline eval` and the tests.
struct Truth {
  std::string scenario;
  uint64_t seed = 0;
  std::string root, family, kind;  // empty for the calm run
  int64_t onset_ns = 0;            // 0 for the calm run
  int64_t end_ns = 0;
  std::vector<std::string> chain;  // root first, the user-facing end last
  std::vector<std::string> endpoints, regions;
  std::string unrelated;  // the service changed at the same time, if any
  uint64_t lines = 0;     // lines emitted
  std::string Json() const;
};

// One line as the simulator emits it: the text (no newline), the service
// that wrote it (a Kafka key) and its event time.
struct SimLine {
  std::string_view text;
  std::string_view service;
  int64_t ts_ns = 0;
};

// Emits the run's lines, a second of event time at a time, in event-time
// order within it (a change's log lines may precede their second).
Result<Truth> Simulate(const SimOptions& options, const std::function<void(const SimLine&)>& sink);

}  // namespace faultline::sim
