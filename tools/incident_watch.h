// Incidents computed continuously for `faultline serve`, on event time.
//
// A background thread wakes every `interval_ms` of wall time and makes a
// pass for every `interval_ms` of event time the watermark (the newest event
// time stored, minus the allowed lateness) has moved since its last pass:
// live, one pass a wake-up; in a replay, as many as it takes to catch up, so
// the passes are the same at any speed. A pass scans the last `lookback_ns`
// before its watermark for anomalies (reading the
// store as a secondary instance, with an hour of history for the
// baselines), groups them into incidents (correlate/incident.h), and
// compares them with what it knew: an incident that opens, changes its top
// cause or state, or resolves is logged, stored in the `incidents` column
// family under its id (replacing the previous version) and handed to
// `publish` (the --incidents-topic producer). Incidents that scroll out of
// the lookback keep their last stored version.
//
// Thread-safety: ObserveEventTime may be called from any thread (the write
// stage); List/Get from the HTTP threads; Start/Stop from the owner.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "core/status.h"
#include "correlate/families.h"
#include "correlate/incident.h"
#include "storage/reader.h"
#include "storage/store.h"
#include "tools/config.h"

namespace faultline::tools {

struct IncidentWatchOptions {
  std::string db_dir;
  int interval_ms = 10'000;
  // Records may arrive this late in event time; the watermark stays this
  // far behind the newest event time stored.
  int64_t lateness_ns = int64_t{30} * 1'000'000'000;
  // How far before the watermark each pass looks for incidents.
  int64_t lookback_ns = int64_t{30} * 60 * 1'000'000'000;
  // Passes catch up at most this much event time: further behind, they
  // resume this far before the watermark (one pass costs a fraction of a
  // second, so a day of 10 s steps would take half an hour).
  int64_t max_catch_up_ns = int64_t{3600} * 1'000'000'000;
  // Baseline data before the lookback (correlate/scan.h history_ns).
  int64_t history_ns = int64_t{3600} * 1'000'000'000;
  correlate::CorrelateOptions correlate;
  std::vector<correlate::SignalRule> signal_rules;
  std::vector<std::pair<std::string, std::string>> topology_edges;
  std::function<void(const std::string&)> log;
  // Called with (id, JSON) for every incident that opened or changed.
  std::function<void(const std::string&, const std::string&)> publish;
};

class IncidentWatch {
 public:
  // `store` is the writer the service holds; incidents are stored through it.
  IncidentWatch(IncidentWatchOptions options, storage::Store* store);
  ~IncidentWatch();
  IncidentWatch(const IncidentWatch&) = delete;
  IncidentWatch& operator=(const IncidentWatch&) = delete;

  Status Start();
  // Stops the thread after its current pass; idempotent.
  void Stop();

  // The newest event time just stored (the write stage calls this).
  void ObserveEventTime(int64_t ts_ns);

  // One pass at this watermark (the thread's body; tests call it directly).
  // Returns the number of incidents that opened or changed.
  Result<size_t> RunOnce(int64_t watermark_ns);

  // The stored incidents, newest first, as a JSON array (at most `limit`).
  Result<std::string> ListJson(size_t limit);
  // One stored incident's JSON; kNotFound when there is none.
  Result<std::string> GetJson(const std::string& id);

  uint64_t passes() const { return passes_.load(std::memory_order_relaxed); }
  // The watermark of the last pass; INT64_MIN before the first.
  int64_t pass_watermark_ns() const { return pass_watermark_ns_.load(std::memory_order_relaxed); }

 private:
  void Loop();
  void Log(const std::string& line) const;
  Status EnsureReader();

  IncidentWatchOptions options_;
  storage::Store* store_;
  std::optional<correlate::SignalClassifier> classifier_;
  std::unique_ptr<storage::Reader> reader_;  // used by the thread (or RunOnce)
  std::mutex reader_mu_;                     // reader_ for List/Get vs the thread

  struct Known {
    std::string cause;  // top service, or "unknown"
    correlate::IncidentState state = correlate::IncidentState::kInvestigating;
    std::string json;
    std::set<std::string> changes;  // its findings' service, signal, dimension, onset
    int64_t last_change_ns = INT64_MIN;  // the latest onset among them
  };
  // The thread's (RunOnce's) view: incidents reported whose changes are
  // still within the lookback.
  std::map<std::string, Known> known_;

  std::atomic<int64_t> max_event_ns_{INT64_MIN};
  int64_t last_watermark_ = INT64_MIN;
  std::atomic<uint64_t> passes_{0};
  std::atomic<int64_t> pass_watermark_ns_{INT64_MIN};
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace faultline::tools
