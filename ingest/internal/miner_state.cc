#include "ingest/internal/miner_state.h"

#include <algorithm>
#include <cmath>

#include "ingest/internal/masking_rules.h"

namespace faultline::ingest::internal {

namespace {

constexpr std::string_view kWildcard = "<*>";
constexpr std::string_view kOverflowText = "<overflow>";
// Single-word variants of one template at one position before the position
// counts as a variable. Real templates that differ in one word come in
// handfuls ("opened"/"closed", "INFO"/"WARN"); random names come in
// thousands and would otherwise fill the service's template cap.
constexpr uint32_t kMaxWordVariants = 16;
// Example lines are for display; a pasted payload is cut.
constexpr size_t kMaxExampleBytes = 2048;

}  // namespace

size_t StringHash::operator()(std::string_view s) const {
  return static_cast<size_t>(HashBytes(s, 0x51ed27));
}

uint64_t LeafKey(size_t token_count, uint64_t first_token_hash) {
  uint64_t h = first_token_hash ^ token_count;
  h *= 0x9E3779B97F4A7C15ULL;
  h ^= h >> 31;
  return h;
}

namespace {

template <typename Token>
uint64_t SkeletonKeyImpl(const std::vector<Token>& tokens, const std::vector<uint64_t>& hashes) {
  uint64_t h = 0x243F6A8885A308D3ULL;
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

uint64_t SkeletonKey(const std::vector<std::string_view>& tokens,
                     const std::vector<uint64_t>& hashes) {
  return SkeletonKeyImpl(tokens, hashes);
}

uint64_t SkeletonKey(const std::vector<std::string>& tokens, const std::vector<uint64_t>& hashes) {
  return SkeletonKeyImpl(tokens, hashes);
}

// ---------------------------------------------------------------------------
// ServiceMiner

ServiceMiner::ServiceMiner(std::string name, uint32_t prefix, const MinerOptions* options,
                           const Masker* masker)
    : name_(std::move(name)), prefix_(prefix), options_(options), masker_(masker) {}

void ServiceMiner::IndexSkeleton(uint32_t index) {
  const MinerTemplate& t = templates_[index];
  const uint64_t key = SkeletonKey(t.tokens, t.hashes);
  if (key != 0) skeletons_.emplace(key, index);
}

void ServiceMiner::Touch(MinerTemplate* t, int64_t ts_ns) {
  MinedTemplate& info = t->info;
  if (info.count == 0 || ts_ns < info.first_seen_ns) info.first_seen_ns = ts_ns;
  if (info.count == 0 || ts_ns > info.last_seen_ns) info.last_seen_ns = ts_ns;
  ++info.count;
  if (!t->dirty) {
    t->dirty = true;
    dirty_.push_back(static_cast<uint32_t>(t - templates_.data()));
  }
}

namespace {

void RebuildText(MinerTemplate* t) {
  t->text_changed = true;
  std::string& text = t->info.text;
  text.clear();
  for (size_t i = 0; i < t->tokens.size(); ++i) {
    if (i > 0) text.push_back(' ');
    text += t->tokens[i];
  }
}

// The message as its tokens span it (outer whitespace trimmed), cut to
// kMaxExampleBytes.
std::string ExampleOf(const PreparedMessage& prepared) {
  if (prepared.raw.empty()) return std::string();
  const char* begin = prepared.raw.front().data();
  const char* end = prepared.raw.back().data() + prepared.raw.back().size();
  return std::string(begin, std::min(static_cast<size_t>(end - begin), kMaxExampleBytes));
}

TokenKind KindOf(std::string_view token, bool variable) {
  if (variable) return kVariable;
  return token.find(kWildcard) == std::string_view::npos ? kConstant : kPartial;
}

uint64_t WordVariantKey(uint64_t sibling, size_t position) {
  return (sibling << 16 ^ position) * 0xff51afd7ed558ccdULL;
}

}  // namespace

uint32_t ServiceMiner::CreateTemplate(const PreparedMessage& prepared, uint64_t leaf_key,
                                      int64_t ts_ns) {
  const uint32_t index = static_cast<uint32_t>(templates_.size());
  MinerTemplate& t = templates_.emplace_back();
  t.info.id = (uint64_t{prefix_} << kSequenceBits) | (next_sequence_++ & kSequenceMask);
  t.info.service = name_;
  t.info.example = ExampleOf(prepared);
  const size_t n = prepared.tokens.size();
  t.tokens.reserve(n);
  for (size_t i = 0; i < n; ++i) t.tokens.emplace_back(prepared.tokens[i]);
  t.hashes.assign(prepared.hashes.begin(), prepared.hashes.end());
  t.variable.resize(n);
  for (size_t i = 0; i < n; ++i) t.variable[i] = KindOf(prepared.tokens[i], prepared.masked[i]);
  RebuildText(&t);
  ++template_count_;
  leaves_[leaf_key].push_back(index);
  by_id_.emplace(t.info.id, index);
  ++counters_.templates;
  IndexSkeleton(index);
  Touch(&t, ts_ns);
  return index;
}

uint32_t ServiceMiner::Overflow(int64_t ts_ns) {
  ++counters_.over_cap;
  if (overflow_ < 0) {
    const uint32_t index = static_cast<uint32_t>(templates_.size());
    MinerTemplate& t = templates_.emplace_back();
    t.info.id = uint64_t{prefix_} << kSequenceBits;
    t.info.service = name_;
    t.info.text = std::string(kOverflowText);
    t.text_changed = true;
    t.overflow = true;
    overflow_ = index;
    by_id_.emplace(t.info.id, index);
    ++counters_.templates;
  }
  Touch(&templates_[static_cast<size_t>(overflow_)], ts_ns);
  return static_cast<uint32_t>(overflow_);
}

void ServiceMiner::Generalise(uint32_t index, const PreparedMessage& prepared) {
  MinerTemplate& t = templates_[index];
  for (size_t i = 0; i < t.tokens.size(); ++i) {
    if (t.hashes[i] == prepared.hashes[i]) continue;
    t.tokens[i] = std::string(kWildcard);
    t.hashes[i] = HashBytes(kWildcard);
    t.variable[i] = kVariable;
  }
  RebuildText(&t);
  ++counters_.generalised;
  IndexSkeleton(index);
}

void ServiceMiner::ExtractParams(const MinerTemplate& t, const PreparedMessage& prepared,
                                 std::vector<std::string_view>* params) {
  if (t.overflow) {
    params->insert(params->end(), prepared.raw.begin(), prepared.raw.end());
    return;
  }
  if (t.tokens.size() != prepared.tokens.size()) {
    // Joined across token counts: every variable of the message.
    for (size_t i = 0; i < prepared.tokens.size(); ++i) {
      if (prepared.masked[i] || prepared.tokens[i].find(kWildcard) != std::string_view::npos) {
        params->push_back(prepared.raw[i]);
      }
    }
    return;
  }
  for (size_t i = 0; i < t.tokens.size(); ++i) {
    const std::string_view raw = prepared.raw[i];
    if (t.variable[i] == kVariable) {
      params->push_back(raw);
      continue;
    }
    if (t.variable[i] != kPartial) continue;
    // Partly masked token ("uid=<*>", "(<*>)"): the value is what the
    // constant head and tail leave of the raw token.
    const std::string_view masked = t.tokens[i];
    const size_t star = masked.find(kWildcard);
    const size_t tail = masked.size() - star - kWildcard.size();
    if (star + tail <= raw.size()) params->push_back(raw.substr(star, raw.size() - star - tail));
  }
}

// Tokens are compared by their 64-bit hashes alone: a collision between two
// distinct tokens of one leaf is far less likely than a disk error, and
// comparing the bytes of every equal token was a tenth of mining time.
ServiceMiner::Match ServiceMiner::BestMatch(const std::vector<uint32_t>& leaf,
                                            const PreparedMessage& prepared) const {
  const size_t n = prepared.tokens.size();
  const auto threshold =
      static_cast<size_t>(std::ceil(options_->similarity * static_cast<double>(n) - 1e-9));
  Match match;
  for (uint32_t index : leaf) {
    const MinerTemplate& t = templates_[index];
    if (t.tokens.size() != n) continue;  // leaf key collision
    // Enough equal tokens to win: at least the threshold, and more than the
    // best so far (ties go to the older template, so the choice depends
    // only on order).
    const size_t needed = std::max(threshold, match.index >= 0 ? match.same + 1 : size_t{0});
    size_t mismatches = 0;
    size_t word_diffs = 0;
    size_t word_position = 0;
    for (size_t i = 0; i < n; ++i) {
      if (t.hashes[i] == prepared.hashes[i]) continue;
      ++mismatches;
      if (t.variable[i] != kVariable && IsWordDiff(t.tokens[i], prepared.tokens[i]) &&
          !(i > 0 && IsEntityNoun(t.tokens[i - 1]))) {
        ++word_diffs;
        word_position = i;
      }
      // Stop once the template can neither match (a differing pair of
      // words is two templates, not a variable) nor be a word sibling.
      const bool can_match = word_diffs == 0 && n - mismatches >= needed;
      const bool can_be_sibling = mismatches == 1 && word_diffs <= 1;
      if (!can_match && !can_be_sibling) break;
    }
    if (word_diffs == 0 && n - mismatches >= needed) {
      match.index = index;
      match.same = n - mismatches;
    } else if (word_diffs == 1 && mismatches == 1 && match.word_sibling < 0) {
      match.word_sibling = index;
      match.word_position = word_position;
    }
  }
  return match;
}

uint64_t ServiceMiner::Mine(const PreparedMessage& prepared, int64_t ts_ns,
                            std::vector<std::string_view>* params) {
  ++counters_.messages;
  const size_t n = prepared.tokens.size();
  const uint64_t key = LeafKey(n, n == 0 ? 0 : prepared.hashes[0]);

  Match match;
  auto leaf = leaves_.find(key);
  if (leaf != leaves_.end()) match = BestMatch(leaf->second, prepared);
  uint32_t chosen;
  if (match.index >= 0) {
    chosen = static_cast<uint32_t>(match.index);
    if (match.same != n) Generalise(chosen, prepared);
    Touch(&templates_[chosen], ts_ns);
  } else if (auto skeleton = skeletons_.find(SkeletonKey(prepared.tokens, prepared.hashes));
             skeleton != skeletons_.end()) {
    chosen = skeleton->second;
    Touch(&templates_[chosen], ts_ns);
  } else if (match.word_sibling >= 0 &&
             ++word_variants_[WordVariantKey(static_cast<uint64_t>(match.word_sibling),
                                             match.word_position)] > kMaxWordVariants) {
    // Too many single-word variants here: the word is a value.
    chosen = static_cast<uint32_t>(match.word_sibling);
    Generalise(chosen, prepared);
    Touch(&templates_[chosen], ts_ns);
  } else if (template_count_ >= options_->max_templates_per_service) {
    chosen = Overflow(ts_ns);
  } else {
    chosen = CreateTemplate(prepared, key, ts_ns);
  }
  if (params != nullptr) ExtractParams(templates_[chosen], prepared, params);
  return templates_[chosen].info.id;
}

void ServiceMiner::Restore(const MinedTemplate& saved) {
  if (by_id_.count(saved.id) != 0) return;
  const uint64_t sequence = saved.id & kSequenceMask;
  const uint32_t index = static_cast<uint32_t>(templates_.size());
  MinerTemplate& t = templates_.emplace_back();
  t.info = saved;
  t.info.service = name_;
  by_id_.emplace(saved.id, index);
  ++counters_.templates;
  if (sequence == 0) {
    t.overflow = true;
    overflow_ = index;
    return;
  }
  next_sequence_ = std::max(next_sequence_, sequence + 1);
  ++template_count_;
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
    t.variable.push_back(KindOf(token, variable));
    pos = end + 1;
  }
  leaves_[LeafKey(t.tokens.size(), t.tokens.empty() ? 0 : t.hashes[0])].push_back(index);
  IndexSkeleton(index);
}

void ServiceMiner::TakeDirty(std::vector<MinedTemplate>* changed,
                             std::vector<TemplateCounts>* counted) {
  for (uint32_t index : dirty_) {
    MinerTemplate& t = templates_[index];
    if (t.text_changed) {
      changed->push_back(t.info);
    } else {
      counted->push_back(
          TemplateCounts{t.info.id, t.info.count, t.info.first_seen_ns, t.info.last_seen_ns});
    }
    t.dirty = false;
    t.text_changed = false;
  }
  dirty_.clear();
}

void ServiceMiner::Snapshot(std::vector<MinedTemplate>* out) const {
  for (const MinerTemplate& t : templates_) out->push_back(t.info);
}

const MinedTemplate* ServiceMiner::Find(uint64_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &templates_[it->second].info;
}

// ---------------------------------------------------------------------------
// MinerState

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
    services_.push_back(
        std::make_unique<ServiceMiner>(std::string(service), prefix, &options_, masker_));
    service_index_.emplace(std::string(service), index);
    prefix_owner_.emplace(prefix, index);
  }
  last_service_.assign(service);
  last_service_index_ = index;
  return index;
}

void MinerState::Restore(const MinedTemplate& saved) {
  const uint32_t prefix = static_cast<uint32_t>(saved.id >> kSequenceBits) & kPrefixMask;
  services_[ServiceIndex(saved.service, prefix)]->Restore(saved);
}

void MinerState::TakeDirty(std::vector<MinedTemplate>* changed,
                           std::vector<TemplateCounts>* counted) {
  const size_t changed_from = changed->size();
  const size_t counted_from = counted->size();
  for (auto& service : services_) service->TakeDirty(changed, counted);
  std::sort(changed->begin() + static_cast<ptrdiff_t>(changed_from), changed->end(),
            [](const MinedTemplate& a, const MinedTemplate& b) { return a.id < b.id; });
  std::sort(counted->begin() + static_cast<ptrdiff_t>(counted_from), counted->end(),
            [](const TemplateCounts& a, const TemplateCounts& b) { return a.id < b.id; });
}

std::vector<MinedTemplate> MinerState::Snapshot() const {
  std::vector<MinedTemplate> out;
  for (const auto& service : services_) service->Snapshot(&out);
  std::sort(out.begin(), out.end(),
            [](const MinedTemplate& a, const MinedTemplate& b) { return a.id < b.id; });
  return out;
}

const MinedTemplate* MinerState::Find(uint64_t id) const {
  auto owner = prefix_owner_.find(static_cast<uint32_t>(id >> kSequenceBits) & kPrefixMask);
  return owner == prefix_owner_.end() ? nullptr : services_[owner->second]->Find(id);
}

MinerCounters MinerState::counters() const {
  MinerCounters total;
  for (const auto& service : services_) {
    const MinerCounters& c = service->counters();
    total.messages += c.messages;
    total.templates += c.templates;
    total.generalised += c.generalised;
    total.over_cap += c.over_cap;
  }
  total.services = services_.size();
  return total;
}

}  // namespace faultline::ingest::internal
