#include "tools/incident_watch.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>

#include "core/time.h"
#include "correlate/scan.h"
#include "correlate/topology.h"
#include "tools/internal/cli_util.h"

namespace faultline::tools {

IncidentWatch::IncidentWatch(IncidentWatchOptions options, storage::Store* store)
    : options_(std::move(options)), store_(store) {}

IncidentWatch::~IncidentWatch() { Stop(); }

void IncidentWatch::Log(const std::string& line) const {
  if (options_.log) {
    options_.log(line);
  } else {
    std::fprintf(stderr, "faultline serve: %s\n", line.c_str());
  }
}

Status IncidentWatch::Start() {
  FL_ASSIGN_OR_RETURN(correlate::SignalClassifier classifier,
                      correlate::SignalClassifier::Create(options_.signal_rules));
  classifier_.emplace(std::move(classifier));
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void IncidentWatch::Stop() {
  {
    std::scoped_lock lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void IncidentWatch::ObserveEventTime(int64_t ts_ns) {
  int64_t seen = max_event_ns_.load(std::memory_order_relaxed);
  while (ts_ns > seen &&
         !max_event_ns_.compare_exchange_weak(seen, ts_ns, std::memory_order_relaxed)) {
  }
}

Status IncidentWatch::EnsureReader() {
  if (reader_ != nullptr) return reader_->CatchUp();
  FL_ASSIGN_OR_RETURN(reader_, storage::Reader::Open(options_.db_dir));
  return Status::Ok();
}

void IncidentWatch::Loop() {
  // Passes are stepped in event time, one every interval of it, so a
  // replay of history at any speed makes the same passes as the live stream
  // did (each catching up in turn) rather than one pass over whatever
  // arrived since the last wake-up.
  const int64_t step = int64_t{options_.interval_ms} * 1'000'000;
  // Wake often enough to notice a step soon after the watermark passes it.
  const int wake_ms = std::min(options_.interval_ms, 1000);
  std::unique_lock lock(mu_);
  while (!stop_) {
    wake_.wait_for(lock, std::chrono::milliseconds(wake_ms), [&] { return stop_; });
    if (stop_) break;
    const int64_t newest = max_event_ns_.load(std::memory_order_relaxed);
    if (newest == INT64_MIN) continue;
    const int64_t watermark = newest - options_.lateness_ns;
    if (watermark <= last_watermark_) continue;
    int64_t next = last_watermark_ == INT64_MIN ? watermark : last_watermark_ + step;
    if (watermark - next > options_.max_catch_up_ns) {
      // Far behind (a backlog, a restart after downtime): pass only over the
      // last max_catch_up of it, on the same step grid. What began before
      // is history; `faultline incidents` computes it from the store.
      const int64_t skip = (watermark - options_.max_catch_up_ns - next + step - 1) / step * step;
      Log("incidents: " + std::to_string((watermark - next) / 60'000'000'000) +
          " min of event time behind; passes resume at " + FormatRfc3339(next + skip, 0) +
          " (incidents that began before are not reported live)");
      next += skip;
    }
    while (next <= watermark && !stop_) {
      lock.unlock();
      Result<size_t> changed = RunOnce(next);
      if (!changed.ok()) Log("incidents: " + changed.status().message());
      lock.lock();
      last_watermark_ = next;
      next += step;
    }
  }
}

Result<size_t> IncidentWatch::RunOnce(int64_t watermark_ns) {
  if (!classifier_.has_value()) {
    FL_ASSIGN_OR_RETURN(correlate::SignalClassifier classifier,
                        correlate::SignalClassifier::Create(options_.signal_rules));
    classifier_.emplace(std::move(classifier));
  }
  std::vector<correlate::Incident> incidents;
  int64_t since = 0;
  {
    std::scoped_lock lock(reader_mu_);
    FL_RETURN_IF_ERROR(EnsureReader());
    const int64_t bucket_ns = internal::StoredBucketWidth(reader_.get());
    // Whole buckets only: the one the watermark is in is still filling.
    const int64_t until = watermark_ns / bucket_ns * bucket_ns;
    since = until - options_.lookback_ns;
    correlate::ScanOptions scan;
    scan.history_ns = options_.history_ns;
    const int64_t habits = options_.correlate.habit_window_ns;
    FL_ASSIGN_OR_RETURN(std::vector<correlate::Finding> findings,
                        correlate::FindAnomalies(reader_.get(), since - habits, until, bucket_ns,
                                                 *classifier_, scan));
    FL_ASSIGN_OR_RETURN(std::vector<correlate::Edge> edges,
                        correlate::LoadStoredEdges(reader_.get(), since - options_.history_ns,
                                                   until, options_.topology_edges));
    incidents = correlate::GroupIncidents(findings, edges, bucket_ns, until, options_.correlate,
                                          since);
    for (correlate::Incident& x : incidents) {
      FL_RETURN_IF_ERROR(correlate::AddTraceBlame(reader_.get(), edges, bucket_ns, until,
                                                  options_.correlate, findings, &x));
      FL_RETURN_IF_ERROR(correlate::AddImpact(reader_.get(), *classifier_, bucket_ns, &x));
      FL_RETURN_IF_ERROR(correlate::CollectEvidenceLines(reader_.get(), &x));
    }
  }
  last_watermark_ = watermark_ns;
  pass_watermark_ns_.store(watermark_ns, std::memory_order_relaxed);
  passes_.fetch_add(1, std::memory_order_relaxed);
  // Incidents whose every change is older than the lookback cannot be seen
  // again (GroupIncidents leaves out what began before it), nor share a
  // change with one that is: forget them, or a long-running serve would
  // keep every incident it ever reported.
  std::erase_if(known_, [&](const auto& entry) {
    return entry.second.last_change_ns < since - options_.correlate.group_gap_ns;
  });
  size_t changed = 0;
  for (correlate::Incident& x : incidents) {
    // One incident keeps the id it was first reported under: a later pass
    // may see it begin elsewhere (a change found late at an earlier onset,
    // its start scrolled out of the lookback), which would name it anew.
    // It is the same incident when it holds a change (service, signal,
    // dimension, onset) that one already reported holds.
    std::set<std::string> changes;
    for (const correlate::Finding& f : x.timeline) {
      changes.insert(f.service + '\0' + f.signal + '\0' + f.dimension + '\0' +
                     std::to_string(f.onset_ns));
    }
    if (known_.find(x.id) == known_.end()) {
      for (const auto& [id, k] : known_) {
        const bool shared = std::any_of(changes.begin(), changes.end(), [&](const std::string& c) {
          return k.changes.count(c) > 0;
        });
        if (shared) {
          x.id = id;
          break;
        }
      }
    }
    const std::string cause =
        x.identified && !x.causes.empty() ? x.causes.front().service : "unknown";
    auto it = known_.find(x.id);
    const bool opened = it == known_.end();
    const bool new_cause = !opened && it->second.cause != cause;
    const bool new_state = !opened && it->second.state != x.state;
    if (!opened && !new_cause && !new_state) continue;
    std::string json = correlate::IncidentJson(x);
    const std::string what =
        cause == "unknown"
            ? std::string("cause unknown")
            : "cause " + cause + " (" + std::string(correlate::FamilyName(x.causes[0].family)) +
                  (x.causes[0].kind.empty() ? "" : "/" + x.causes[0].kind) + ")";
    if (opened) {
      Log("incident " + x.id + " opened at " + FormatRfc3339(x.onset_ns, 0) + ": " + what +
          ", " + std::to_string(x.services.size()) + " services changed (seen at watermark " +
          FormatRfc3339(watermark_ns, 0) + ")");
    } else if (new_cause) {
      Log("incident " + x.id + " cause changed: " + it->second.cause + " -> " + cause);
    }
    const bool reopened = new_state && it->second.state == correlate::IncidentState::kResolved;
    if (reopened) {
      Log("incident " + x.id + " reopened: " + what + " (a change joined it after it resolved)");
    } else if (new_state || (opened && x.state == correlate::IncidentState::kResolved)) {
      Log("incident " + x.id + " " + correlate::IncidentStateName(x.state) +
          (x.state == correlate::IncidentState::kResolved
               ? " at " + FormatRfc3339(x.resolved_ns, 0)
               : std::string()));
    }
    FL_RETURN_IF_ERROR(store_->PutIncident(x.id, json));
    if (options_.publish) options_.publish(x.id, json);
    Known& k = known_[x.id];
    k.cause = cause;
    k.state = x.state;
    k.json = std::move(json);
    k.changes.insert(changes.begin(), changes.end());
    for (const correlate::Finding& f : x.timeline) {
      k.last_change_ns = std::max(k.last_change_ns, f.onset_ns);
    }
    ++changed;
  }
  return changed;
}

Result<std::string> IncidentWatch::ListJson(size_t limit) {
  std::scoped_lock lock(reader_mu_);
  FL_RETURN_IF_ERROR(EnsureReader());
  std::string out = "[";
  size_t n = 0;
  FL_RETURN_IF_ERROR(reader_->Incidents("", "", /*reverse=*/true,
                                        [&](const std::string&, const std::string& body) {
                                          if (n > 0) out += ',';
                                          out += body;
                                          return ++n < limit;
                                        }));
  out += "]";
  return out;
}

Result<std::string> IncidentWatch::GetJson(const std::string& id) {
  std::scoped_lock lock(reader_mu_);
  FL_RETURN_IF_ERROR(EnsureReader());
  return reader_->Incident(id);
}

}  // namespace faultline::tools
