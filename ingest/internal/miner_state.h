// The template miner's serial state: services, their templates and the
// search structure (token count + first token -> candidate templates).
//
// Ids: (service prefix << 40) | sequence. The prefix is a 24-bit hash of the
// service name (linear probing past a prefix another service holds, in the
// order services are first seen); the sequence counts up per service from 1
// and is never reused; sequence 0 is the service's overflow template. So an
// id depends only on the service and on how many templates that service
// created before it: never on thread count, batch size or other services.
//
// Thread-safety: none; one thread at a time (TemplateMiner's serial stage).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ingest/template_miner.h"

namespace faultline::ingest::internal {

inline constexpr int kSequenceBits = 40;
inline constexpr uint64_t kSequenceMask = (uint64_t{1} << kSequenceBits) - 1;
inline constexpr uint32_t kPrefixMask = (1u << 24) - 1;

struct MinerTemplate {
  MinedTemplate info;                // id, service, text, count, times
  std::vector<std::string> tokens;   // "<*>" where variable
  std::vector<uint64_t> hashes;      // HashBytes(tokens[i])
  std::vector<uint8_t> variable;     // 1: wildcard (masked or generalised)
  uint64_t leaf_key = 0;
  uint32_t service = 0;
  bool dirty = false;
  bool overflow = false;
};

struct ServiceState {
  std::string name;
  uint32_t prefix = 0;
  uint64_t next_sequence = 1;
  size_t template_count = 0;  // not counting the overflow template
  int64_t overflow = -1;      // index of the overflow template
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const;
};

class MinerState {
 public:
  void Init(const MinerOptions& options, const Masker* masker);
  uint64_t Mine(std::string_view service, const PreparedMessage& prepared, int64_t ts_ns,
                std::vector<std::string>* params);
  void Restore(const MinedTemplate& t);
  std::vector<MinedTemplate> TakeDirty();
  std::vector<MinedTemplate> Snapshot() const;
  const MinedTemplate* Find(uint64_t id) const;
  const MinerCounters& counters() const { return counters_; }

 private:
  uint32_t ServiceIndex(std::string_view service, uint32_t wanted_prefix);
  uint32_t CreateTemplate(uint32_t service, const PreparedMessage& prepared, uint64_t leaf_key,
                          int64_t ts_ns);
  uint32_t Overflow(uint32_t service, int64_t ts_ns);
  void Touch(MinerTemplate* t, int64_t ts_ns);
  void RebuildText(MinerTemplate* t);
  void IndexSkeleton(uint32_t index);
  static void ExtractParams(const MinerTemplate& t, const PreparedMessage& prepared,
                            std::vector<std::string>* params);

  MinerOptions options_;
  const Masker* masker_ = nullptr;
  std::vector<MinerTemplate> templates_;
  std::vector<ServiceState> services_;
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> service_index_;
  std::unordered_map<uint32_t, uint32_t> prefix_owner_;
  // (service, token count, first token) -> templates, in creation order.
  std::unordered_map<uint64_t, std::vector<uint32_t>> leaves_;
  std::unordered_map<uint64_t, uint32_t> by_id_;
  // Constant-token skeleton -> first template with it: messages that differ
  // from a template only in how many variable tokens they carry ("lifetime
  // <1 sec" vs "lifetime 00:02") join it across token counts.
  std::unordered_map<uint64_t, uint32_t> skeletons_;
  std::vector<uint32_t> dirty_;
  MinerCounters counters_;
  // The last service looked up: consecutive records mostly share it.
  std::string last_service_;
  uint32_t last_service_index_ = UINT32_MAX;
};

// Hash of a token sequence's constant tokens (those without a wildcard),
// or 0 when fewer than two: too little to tell templates apart.
uint64_t SkeletonKey(uint32_t service, const std::vector<std::string_view>& tokens,
                     const std::vector<uint64_t>& hashes);
uint64_t SkeletonKey(uint32_t service, const std::vector<std::string>& tokens,
                     const std::vector<uint64_t>& hashes);

// Leaf key of a message or template: service, token count, first token.
uint64_t LeafKey(uint32_t service, size_t token_count, uint64_t first_token_hash);

}  // namespace faultline::ingest::internal
