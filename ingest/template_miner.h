// TemplateMiner: gives every log message a stable template id (online log
// parsing in the spirit of Drain, He et al. ICWS 2017).
//
// A message is split into tokens; variable parts (numbers, hex, IPs and
// ports, UUIDs, paths, URLs, e-mails, durations and sizes with units,
// timestamps, quoted values, key=value values, and the config file's own
// rules) are masked; then it joins the most similar template of its service
// with the same token count, or starts a new one. When a template absorbs a
// message that differs in a position, that position becomes a wildcard
// ("<*>") and the template keeps its id. Ids are never reused.
//
// Two steps so the expensive half runs in parallel:
//   Prepare()  pure, thread-safe: tokenizes and masks (parallel stage).
//   Mine()     stateful: matches and updates templates, in input order per
//              service. A service's templates depend only on that service's
//              messages, so services can be mined concurrently and ids still
//              depend only on the input order, never on thread count or
//              batch size.
//
// Thread-safety: Prepare is static and thread-safe. Mine(ServiceHandle...)
// may run concurrently for distinct handles; everything else (including
// ServiceOf) needs the miner to itself.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace faultline::ingest {

// A variable kind the config file adds: values matching `regex` (ECMAScript
// syntax, matched against whole tokens) are masked like built-in kinds.
struct MaskRule {
  std::string name;   // shows in templates as <name>
  std::string regex;
};

struct MinerOptions {
  // Fraction of a template's constant tokens a message must share to join
  // it. Documented in docs/templates.md with the measurements behind it.
  double similarity = 0.5;
  // Templates kept per service. Past the cap, a message that matches no
  // template gets its service's overflow template (id reported like any
  // other, text "<overflow>") and counts in MinerCounters::over_cap.
  size_t max_templates_per_service = 5000;
  // Tokens looked at per message; the rest are folded into the last one.
  size_t max_tokens = 100;
  std::vector<MaskRule> extra_masks;

  Status Validate() const;
};

// Compiled extra masks, shared read-only by all threads.
class Masker;
Result<std::shared_ptr<const Masker>> CompileMasker(const MinerOptions& options);

// A message tokenized and masked: the input of Mine().
// The message must outlive Mine(): `raw` views into it.
struct PreparedMessage {
  std::vector<std::string_view> tokens;  // views into `storage` or the message
  std::vector<uint8_t> masked;            // 1 where tokens[i] is a masked variable
  std::string storage;
  std::vector<std::string_view> raw;  // tokens[i] before masking (views into the message)
  std::vector<uint64_t> hashes;       // hash of tokens[i], for fast comparison
  void Clear();
};

struct MinedTemplate {
  uint64_t id = 0;
  std::string service;
  std::string text;  // tokens joined by single spaces, wildcards as <*>
  uint64_t count = 0;
  int64_t first_seen_ns = 0;
  int64_t last_seen_ns = 0;
  std::string example;  // the first message mined into it (cut at 2 KiB)
};

// The counters of a template whose text did not change.
struct TemplateCounts {
  uint64_t id = 0;
  uint64_t count = 0;
  int64_t first_seen_ns = 0;
  int64_t last_seen_ns = 0;
};

struct MinerCounters {
  uint64_t messages = 0;
  uint64_t templates = 0;
  uint64_t generalised = 0;  // times a template gained a wildcard
  uint64_t over_cap = 0;     // messages sent to an overflow template
  uint64_t services = 0;
};

class TemplateMiner {
 public:
  TemplateMiner(const MinerOptions& options, std::shared_ptr<const Masker> masker);
  ~TemplateMiner();
  TemplateMiner(const TemplateMiner&) = delete;
  TemplateMiner& operator=(const TemplateMiner&) = delete;

  // Tokenizes and masks `message` into `out`. Thread-safe.
  static void Prepare(const Masker& masker, std::string_view message, PreparedMessage* out);

  // Restores persisted templates (before mining resumes after a restart).
  void Restore(const std::vector<MinedTemplate>& templates);

  // A service, registered on first sight (which fixes its id prefix, so
  // call this in input order).
  using ServiceHandle = uint32_t;
  ServiceHandle ServiceOf(std::string_view service);

  // The id of the message's template, creating or generalising one.
  // Appends the values behind the template's wildcards (views into the
  // message) to `params` when given. May run concurrently for distinct
  // services. REQUIRES: `prepared` came from Prepare with this miner's
  // masker; `service` from ServiceOf.
  uint64_t Mine(ServiceHandle service, const PreparedMessage& prepared, int64_t ts_ns,
                std::vector<std::string_view>* params);
  // ServiceOf + Mine.
  uint64_t Mine(std::string_view service, const PreparedMessage& prepared, int64_t ts_ns,
                std::vector<std::string_view>* params);
  // Prepare + Mine, for callers without a parallel stage; copies `params`.
  uint64_t MineMessage(std::string_view service, std::string_view message, int64_t ts_ns,
                       std::vector<std::string>* params);

  // What changed since the last call, for persistence, each in id order:
  // templates created or generalised, in full, to `changed`; the counters
  // of the others that saw records, to `counted`. Clears the sets.
  void TakeDirty(std::vector<MinedTemplate>* changed, std::vector<TemplateCounts>* counted);
  // Every template, in id order.
  std::vector<MinedTemplate> Snapshot() const;
  // nullptr when unknown.
  const MinedTemplate* Find(uint64_t id) const;
  MinerCounters counters() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "0000000000000007"-style text for ids in CLI output (16 hex digits).
std::string TemplateIdString(uint64_t id);

}  // namespace faultline::ingest
