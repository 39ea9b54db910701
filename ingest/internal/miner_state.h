// The template miner's state: a registry of services, and per service its
// templates and search structure (token count + first token -> candidate
// templates).
//
// Ids: (service prefix << 40) | sequence. The prefix is a 24-bit hash of the
// service name (linear probing past a prefix another service holds, in the
// order services are first seen); the sequence counts up per service from 1
// and is never reused; sequence 0 is the service's overflow template. So an
// id depends only on the service and on how many templates that service
// created before it: never on thread count, batch size or other services.
//
// Because a service's templates depend only on that service's messages,
// services are mined independently: ServiceMiner holds everything one
// service's Mine touches.
//
// Thread-safety: MinerState is used by one thread at a time, except that
// distinct ServiceMiners may Mine concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ingest/template_miner.h"

namespace faultline::ingest::internal {

inline constexpr int kSequenceBits = 40;
inline constexpr uint64_t kSequenceMask = (uint64_t{1} << kSequenceBits) - 1;
inline constexpr uint32_t kPrefixMask = (1u << 24) - 1;

// What a template token is. The message tokens a template's constant
// positions see are equal to the template's, so a token's kind is known
// when the template is made.
enum TokenKind : uint8_t {
  kConstant = 0,
  kVariable = 1,  // a wildcard (masked or generalised)
  kPartial = 2,   // constant with a masked part ("uid=<*>", "(<*>)")
};

struct MinerTemplate {
  MinedTemplate info;                // id, service, text, count, times, example
  std::vector<std::string> tokens;   // "<*>" where variable
  std::vector<uint64_t> hashes;      // HashBytes(tokens[i])
  std::vector<uint8_t> variable;     // a TokenKind per token
  bool dirty = false;         // saw records since the last TakeDirty
  bool text_changed = false;  // created or generalised since then
  bool overflow = false;
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const;
};

// One service's templates.
class ServiceMiner {
 public:
  ServiceMiner(std::string name, uint32_t prefix, const MinerOptions* options,
               const Masker* masker);

  // The id of the message's template. Appends the values behind its
  // wildcards (views into the message) to `params` when given.
  uint64_t Mine(const PreparedMessage& prepared, int64_t ts_ns,
                std::vector<std::string_view>* params);
  void Restore(const MinedTemplate& saved);
  void TakeDirty(std::vector<MinedTemplate>* changed, std::vector<TemplateCounts>* counted);
  void Snapshot(std::vector<MinedTemplate>* out) const;
  const MinedTemplate* Find(uint64_t id) const;
  const MinerCounters& counters() const { return counters_; }
  const std::string& name() const { return name_; }
  uint32_t prefix() const { return prefix_; }

 private:
  struct Match {
    int64_t index = -1;
    size_t same = 0;
    // A younger template equal to the message but for one word: set when
    // the message matched nothing, for word-variant folding.
    int64_t word_sibling = -1;
    size_t word_position = 0;
  };
  Match BestMatch(const std::vector<uint32_t>& leaf, const PreparedMessage& prepared) const;
  uint32_t CreateTemplate(const PreparedMessage& prepared, uint64_t leaf_key, int64_t ts_ns);
  uint32_t Overflow(int64_t ts_ns);
  void Generalise(uint32_t index, const PreparedMessage& prepared);
  void Touch(MinerTemplate* t, int64_t ts_ns);
  void IndexSkeleton(uint32_t index);
  static void ExtractParams(const MinerTemplate& t, const PreparedMessage& prepared,
                            std::vector<std::string_view>* params);

  std::string name_;
  uint32_t prefix_;
  const MinerOptions* options_;
  const Masker* masker_;
  uint64_t next_sequence_ = 1;
  size_t template_count_ = 0;  // not counting the overflow template
  int64_t overflow_ = -1;      // index of the overflow template
  std::vector<MinerTemplate> templates_;
  // (token count, first token) -> templates, in creation order.
  std::unordered_map<uint64_t, std::vector<uint32_t>> leaves_;
  std::unordered_map<uint64_t, uint32_t> by_id_;
  // Constant-token skeleton -> first template with it: messages that differ
  // from a template only in how many variable tokens they carry ("lifetime
  // <1 sec" vs "lifetime 00:02") join it across token counts.
  std::unordered_map<uint64_t, uint32_t> skeletons_;
  // (oldest template, position) -> templates created because a message
  // differed from that template in just the word there. Past kMaxWordVariants the position
  // is a variable after all (random names, not a handful of verbs).
  std::unordered_map<uint64_t, uint32_t> word_variants_;
  std::vector<uint32_t> dirty_;
  MinerCounters counters_;
};

class MinerState {
 public:
  void Init(const MinerOptions& options, const Masker* masker);
  // The index of `service`, registering it (and its id prefix) on first
  // sight. `wanted_prefix` (restore) is used when free; 0: hash the name.
  uint32_t ServiceIndex(std::string_view service, uint32_t wanted_prefix = 0);
  ServiceMiner& service(uint32_t index) { return *services_[index]; }
  size_t service_count() const { return services_.size(); }

  void Restore(const MinedTemplate& t);
  void TakeDirty(std::vector<MinedTemplate>* changed, std::vector<TemplateCounts>* counted);
  std::vector<MinedTemplate> Snapshot() const;
  const MinedTemplate* Find(uint64_t id) const;
  MinerCounters counters() const;

 private:
  MinerOptions options_;
  const Masker* masker_ = nullptr;
  std::vector<std::unique_ptr<ServiceMiner>> services_;
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> service_index_;
  std::unordered_map<uint32_t, uint32_t> prefix_owner_;
  // The last service looked up: consecutive records mostly share it.
  std::string last_service_;
  uint32_t last_service_index_ = UINT32_MAX;
};

// Hash of a token sequence's constant tokens (those without a wildcard),
// or 0 when fewer than two: too little to tell templates apart.
uint64_t SkeletonKey(const std::vector<std::string_view>& tokens,
                     const std::vector<uint64_t>& hashes);
uint64_t SkeletonKey(const std::vector<std::string>& tokens, const std::vector<uint64_t>& hashes);

// Leaf key of a message or template: token count and first token.
uint64_t LeafKey(size_t token_count, uint64_t first_token_hash);

}  // namespace faultline::ingest::internal
