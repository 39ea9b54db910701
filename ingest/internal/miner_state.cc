#include "ingest/internal/miner_state.h"

#include <algorithm>

#include "ingest/internal/masking_rules.h"

namespace faultline::ingest::internal {

namespace {

constexpr std::string_view kWildcard = "<*>";
constexpr std::string_view kOverflowText = "<overflow>";

}  // namespace

size_t StringHash::operator()(std::string_view s) const {
  return static_cast<size_t>(HashBytes(s, 0x51ed27));
}

uint64_t LeafKey(uint32_t service, size_t token_count, uint64_t first_token_hash) {
  uint64_t h = first_token_hash ^ (uint64_t{service} << 32) ^ token_count;
  h *= 0x9E3779B97F4A7C15ULL;
  h ^= h >> 31;
  return h;
}

namespace {

template <typename Token>
uint64_t SkeletonKeyImpl(uint32_t service, const std::vector<Token>& tokens,
                         const std::vector<uint64_t>& hashes) {
  uint64_t h = 0x243F6A8885A308D3ULL ^ service;
  size_t constants = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    // Wildcard tokens drop out, except key=<*>: the key still names the field.
    const std::string_view token(tokens[i]);
    if (const size_t star = token.find(kWildcard);
        star != std::string_view::npos && (star == 0 || token[star - 1] != '=')) {
      continue;
    }
    h = (h ^ hashes[i]) * 0x9E3779B97F4A7C15ULL;
    h ^= h >> 29;
    ++constants;
  }
  if (constants < 2) return 0;
  return h | 1;
}

// Letters only: a word in a fixed position is far more often part of the
// template than a value.
// template than a value. A short digit suffix ("SOCKS5", "eth0") keeps a
// word a word, as it does in masking.
bool IsWord(std::string_view token) {
  size_t letters = 0;
  while (letters < token.size() && ((token[letters] >= 'a' && token[letters] <= 'z') ||
                                    (token[letters] >= 'A' && token[letters] <= 'Z'))) {
    ++letters;
  }
  if (letters == 0 || token.size() - letters > 2) return false;
  for (size_t i = letters; i < token.size(); ++i) {
    if (token[i] < '0' || token[i] > '9') return false;
  }
  return true;
}

// Two different words, or key=word values of the same key ("user=root",
// "user=guest"): two fixed texts more often than one variable.
bool IsWordDiff(std::string_view a, std::string_view b) {
  const size_t eq_a = a.find('=');
  const size_t eq_b = b.find('=');
  if (eq_a != std::string_view::npos && eq_a == eq_b && a.substr(0, eq_a) == b.substr(0, eq_b)) {
    a.remove_prefix(eq_a + 1);
    b.remove_prefix(eq_b + 1);
  }
  return IsWord(a) && IsWord(b);
}

// Nouns that introduce a name: the word after them is a value ("for user
// cyrus", "host db"), whatever it looks like.
bool IsEntityNoun(std::string_view token) {
  static constexpr std::string_view kNouns[] = {
      "user", "username", "account", "host", "hostname", "group", "domain",
      "file", "table",    "database", "queue", "topic", "bucket"};
  for (std::string_view noun : kNouns) {
    if (token == noun) return true;
  }
  return false;
}

}  // namespace

uint64_t SkeletonKey(uint32_t service, const std::vector<std::string_view>& tokens,
                     const std::vector<uint64_t>& hashes) {
  return SkeletonKeyImpl(service, tokens, hashes);
}

uint64_t SkeletonKey(uint32_t service, const std::vector<std::string>& tokens,
                     const std::vector<uint64_t>& hashes) {
  return SkeletonKeyImpl(service, tokens, hashes);
}

void MinerState::IndexSkeleton(uint32_t index) {
  const MinerTemplate& t = templates_[index];
  const uint64_t key = SkeletonKey(t.service, t.tokens, t.hashes);
  if (key != 0) skeletons_.emplace(key, index);
}

void MinerState::Init(const MinerOptions& options, const Masker* masker) {
  options_ = options;
  masker_ = masker;
}

uint32_t MinerState::ServiceIndex(std::string_view service, uint32_t wanted_prefix) {
  if (last_service_index_ != UINT32_MAX && last_service_ == service) return last_service_index_;
  uint32_t index;
  if (auto it = service_index_.find(service); it != service_index_.end()) {
    index = it->second;
  } else {
    uint32_t prefix = wanted_prefix != 0
                          ? wanted_prefix
                          : static_cast<uint32_t>(HashBytes(service, 0x5e41ce) >> 40) & kPrefixMask;
    if (prefix == 0) prefix = 1;
    while (prefix_owner_.count(prefix) != 0) {
      prefix = (prefix + 1) & kPrefixMask;
      if (prefix == 0) prefix = 1;
    }
    index = static_cast<uint32_t>(services_.size());
    ServiceState state;
    state.name = std::string(service);
    state.prefix = prefix;
    services_.push_back(std::move(state));
    service_index_.emplace(std::string(service), index);
    prefix_owner_.emplace(prefix, index);
    counters_.services = services_.size();
  }
  last_service_.assign(service);
  last_service_index_ = index;
  return index;
}

void MinerState::Touch(MinerTemplate* t, int64_t ts_ns) {
  MinedTemplate& info = t->info;
  if (info.count == 0 || ts_ns < info.first_seen_ns) info.first_seen_ns = ts_ns;
  if (info.count == 0 || ts_ns > info.last_seen_ns) info.last_seen_ns = ts_ns;
  ++info.count;
  if (!t->dirty) {
    t->dirty = true;
    dirty_.push_back(static_cast<uint32_t>(t - templates_.data()));
  }
}

void MinerState::RebuildText(MinerTemplate* t) {
  std::string& text = t->info.text;
  text.clear();
  for (size_t i = 0; i < t->tokens.size(); ++i) {
    if (i > 0) text.push_back(' ');
    text += t->tokens[i];
  }
}

uint32_t MinerState::CreateTemplate(uint32_t service, const PreparedMessage& prepared,
                                    uint64_t leaf_key, int64_t ts_ns) {
  ServiceState& svc = services_[service];
  const uint32_t index = static_cast<uint32_t>(templates_.size());
  MinerTemplate& t = templates_.emplace_back();
  t.info.id = (uint64_t{svc.prefix} << kSequenceBits) | (svc.next_sequence++ & kSequenceMask);
  t.info.service = svc.name;
  t.service = service;
  t.leaf_key = leaf_key;
  const size_t n = prepared.tokens.size();
  t.tokens.reserve(n);
  for (size_t i = 0; i < n; ++i) t.tokens.emplace_back(prepared.tokens[i]);
  t.hashes.assign(prepared.hashes.begin(), prepared.hashes.end());
  t.variable.assign(prepared.masked.begin(), prepared.masked.end());
  RebuildText(&t);
  ++svc.template_count;
  leaves_[leaf_key].push_back(index);
  by_id_.emplace(t.info.id, index);
  counters_.templates = templates_.size();
  IndexSkeleton(index);
  Touch(&t, ts_ns);
  return index;
}

uint32_t MinerState::Overflow(uint32_t service, int64_t ts_ns) {
  ServiceState& svc = services_[service];
  ++counters_.over_cap;
  if (svc.overflow < 0) {
    const uint32_t index = static_cast<uint32_t>(templates_.size());
    MinerTemplate& t = templates_.emplace_back();
    t.info.id = uint64_t{svc.prefix} << kSequenceBits;
    t.info.service = svc.name;
    t.info.text = std::string(kOverflowText);
    t.service = service;
    t.overflow = true;
    svc.overflow = index;
    by_id_.emplace(t.info.id, index);
    counters_.templates = templates_.size();
  }
  Touch(&templates_[static_cast<size_t>(svc.overflow)], ts_ns);
  return static_cast<uint32_t>(svc.overflow);
}

void MinerState::ExtractParams(const MinerTemplate& t, const PreparedMessage& prepared,
                               std::vector<std::string>* params) {
  if (t.overflow) {
    for (std::string_view raw : prepared.raw) params->emplace_back(raw);
    return;
  }
  if (t.tokens.size() != prepared.tokens.size()) {
    // Joined across token counts: every variable of the message.
    for (size_t i = 0; i < prepared.tokens.size(); ++i) {
      if (prepared.masked[i] || prepared.tokens[i].find(kWildcard) != std::string_view::npos) {
        params->emplace_back(prepared.raw[i]);
      }
    }
    return;
  }
  for (size_t i = 0; i < t.tokens.size(); ++i) {
    const std::string_view raw = prepared.raw[i];
    if (t.variable[i]) {
      params->emplace_back(raw);
      continue;
    }
    // Partly masked token ("uid=<*>", "(<*>)"): the value is what the
    // constant head and tail leave of the raw token.
    const std::string_view masked = prepared.tokens[i];
    const size_t star = masked.find(kWildcard);
    if (star == std::string_view::npos || masked == raw) continue;
    const size_t tail = masked.size() - star - kWildcard.size();
    if (star + tail <= raw.size()) params->emplace_back(raw.substr(star, raw.size() - star - tail));
  }
}

uint64_t MinerState::Mine(std::string_view service, const PreparedMessage& prepared,
                          int64_t ts_ns, std::vector<std::string>* params) {
  ++counters_.messages;
  const uint32_t s = ServiceIndex(service, 0);
  const size_t n = prepared.tokens.size();
  const uint64_t key = LeafKey(s, n, n == 0 ? 0 : prepared.hashes[0]);

  int64_t best = -1;
  size_t best_same = 0;
  auto leaf = leaves_.find(key);
  if (leaf != leaves_.end()) {
    for (uint32_t index : leaf->second) {
      const MinerTemplate& t = templates_[index];
      if (t.tokens.size() != n) continue;  // leaf key collision
      size_t same = 0;
      size_t word_diffs = 0;
      for (size_t i = 0; i < n; ++i) {
        const bool equal = t.hashes[i] == prepared.hashes[i] && t.tokens[i] == prepared.tokens[i];
        same += equal;
        if (!equal && !t.variable[i] && IsWordDiff(t.tokens[i], prepared.tokens[i]) &&
            !(i > 0 && IsEntityNoun(t.tokens[i - 1]))) {
          ++word_diffs;
        }
      }
      // A differing pair of words is two templates, not a variable.
      if (word_diffs > 0) continue;
      // Ties go to the older template, so the choice depends only on order.
      if (best < 0 || same > best_same) {
        best = index;
        best_same = same;
      }
    }
  }
  uint32_t chosen;
  if (best >= 0 && (n == 0 || static_cast<double>(best_same) >=
                                  options_.similarity * static_cast<double>(n))) {
    chosen = static_cast<uint32_t>(best);
    MinerTemplate& t = templates_[chosen];
    if (best_same != n) {
      for (size_t i = 0; i < n; ++i) {
        if (t.hashes[i] == prepared.hashes[i] && t.tokens[i] == prepared.tokens[i]) continue;
        t.tokens[i] = std::string(kWildcard);
        t.hashes[i] = HashBytes(kWildcard);
        t.variable[i] = 1;
      }
      RebuildText(&t);
      ++counters_.generalised;
      IndexSkeleton(chosen);
    }
    Touch(&t, ts_ns);
  } else if (auto skeleton = skeletons_.find(SkeletonKey(s, prepared.tokens, prepared.hashes));
             skeleton != skeletons_.end()) {
    chosen = skeleton->second;
    Touch(&templates_[chosen], ts_ns);
  } else if (services_[s].template_count >= options_.max_templates_per_service) {
    chosen = Overflow(s, ts_ns);
  } else {
    chosen = CreateTemplate(s, prepared, key, ts_ns);
  }
  if (params != nullptr) ExtractParams(templates_[chosen], prepared, params);
  return templates_[chosen].info.id;
}

void MinerState::Restore(const MinedTemplate& saved) {
  if (by_id_.count(saved.id) != 0) return;
  const uint32_t prefix = static_cast<uint32_t>(saved.id >> kSequenceBits) & kPrefixMask;
  const uint32_t s = ServiceIndex(saved.service, prefix);
  ServiceState& svc = services_[s];
  const uint64_t sequence = saved.id & kSequenceMask;
  const uint32_t index = static_cast<uint32_t>(templates_.size());
  MinerTemplate& t = templates_.emplace_back();
  t.info = saved;
  t.service = s;
  by_id_.emplace(saved.id, index);
  counters_.templates = templates_.size();
  if (sequence == 0) {
    t.overflow = true;
    svc.overflow = index;
    return;
  }
  svc.next_sequence = std::max(svc.next_sequence, sequence + 1);
  ++svc.template_count;
  std::string_view text = saved.text;
  size_t pos = 0;
  while (pos <= text.size() && !text.empty()) {
    size_t end = text.find(' ', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view token = text.substr(pos, end - pos);
    bool variable = token == kWildcard;
    for (const Masker::Rule& rule : masker_->rules()) variable |= token == rule.replacement;
    t.tokens.emplace_back(token);
    t.hashes.push_back(HashBytes(token));
    t.variable.push_back(variable ? 1 : 0);
    pos = end + 1;
  }
  t.leaf_key = LeafKey(s, t.tokens.size(), t.tokens.empty() ? 0 : t.hashes[0]);
  leaves_[t.leaf_key].push_back(index);
  IndexSkeleton(index);
}

std::vector<MinedTemplate> MinerState::TakeDirty() {
  std::vector<MinedTemplate> out;
  out.reserve(dirty_.size());
  std::sort(dirty_.begin(), dirty_.end());
  for (uint32_t index : dirty_) {
    templates_[index].dirty = false;
    out.push_back(templates_[index].info);
  }
  dirty_.clear();
  return out;
}

std::vector<MinedTemplate> MinerState::Snapshot() const {
  std::vector<MinedTemplate> out;
  out.reserve(templates_.size());
  for (const MinerTemplate& t : templates_) out.push_back(t.info);
  std::sort(out.begin(), out.end(),
            [](const MinedTemplate& a, const MinedTemplate& b) { return a.id < b.id; });
  return out;
}

const MinedTemplate* MinerState::Find(uint64_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &templates_[it->second].info;
}

}  // namespace faultline::ingest::internal
