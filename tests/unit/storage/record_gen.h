// Deterministic random records for the storage tests: a few services, every
// level and kind, trace ids shared by several records, messages built from a
// small vocabulary (so grep words repeat) and attributes of every type.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/record.h"

namespace faultline::storage::testing {

inline const std::vector<std::string>& Vocabulary() {
  static const std::vector<std::string> words = {
      "connection", "refused",  "timeout", "GPU",     "xid",      "retry",  "upstream",
      "Queue",      "depth",    "ok",      "request", "served",   "db_pool", "exhausted",
      "über",       "naïve",    "500",     "429",     "deadline", "exceeded"};
  return words;
}

// `count` records with distinct timestamps starting at `base_ts_ns`, spaced
// by about `step_ns`, in random order when `shuffle`.
inline std::vector<Record> GenerateRecords(size_t count, uint32_t seed, int64_t base_ts_ns,
                                           int64_t step_ns, bool shuffle = false) {
  std::mt19937 rng(seed);
  const std::vector<std::string> services = {"api", "gpu-scheduler", "moderation", "chat"};
  const auto& words = Vocabulary();
  std::vector<Record> records;
  records.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    Record r;
    r.ts_ns = base_ts_ns + static_cast<int64_t>(i) * step_ns + static_cast<int64_t>(rng() % 97);
    r.kind = static_cast<RecordKind>(rng() % 10 == 0 ? 1 + rng() % 2 : 0);
    r.level = static_cast<Level>(rng() % kLevelCount);
    r.service = services[rng() % services.size()];
    const size_t word_count = rng() % 8;
    for (size_t w = 0; w < word_count; ++w) {
      if (w > 0) r.message += (rng() % 4 == 0) ? ": " : " ";
      r.message += words[rng() % words.size()];
    }
    if (rng() % 3 == 0) r.trace_id = "trace" + std::to_string(rng() % 50);
    if (r.kind == RecordKind::kSpan) {
      r.span_id = "s" + std::to_string(i);
      r.parent_span_id = rng() % 2 ? "s" + std::to_string(i / 2) : "";
      r.name = "GET /v1/chat";
      r.duration_ns = static_cast<int64_t>(rng() % 1'000'000);
    }
    if (r.kind == RecordKind::kMetric) {
      r.name = "queue_depth";
      r.value = static_cast<double>(rng() % 1000) / 7.0 - 50;
    }
    r.attributes.push_back({"host", "h" + std::to_string(rng() % 5), AttrType::kString});
    if (rng() % 2) r.attributes.push_back({"status", std::to_string(rng() % 600), AttrType::kNumber});
    if (rng() % 4 == 0) r.attributes.push_back({"cached", "true", AttrType::kBool});
    if (rng() % 8 == 0) r.attributes.push_back({"extra", "null", AttrType::kNull});
    if (rng() % 8 == 0) r.attributes.push_back({"obj", "{\"a\":[1,2]}", AttrType::kJson});
    r.provenance.source = rng() % 2 ? "/var/log/a.log" : "events";
    r.provenance.partition = r.provenance.source == "events" ? static_cast<int32_t>(rng() % 3) : -1;
    r.provenance.offset = i * 100 + rng() % 50;
    records.push_back(std::move(r));
  }
  if (shuffle) std::shuffle(records.begin(), records.end(), rng);
  return records;
}

inline RecordBatch ToBatch(const std::vector<Record>& records) {
  RecordBatch batch;
  for (const Record& record : records) batch.Append(record);
  return batch;
}

}  // namespace faultline::storage::testing
