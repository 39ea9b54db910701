#include "ingest/template_miner.h"

#include <algorithm>
#include <cstdio>
// GCC 12 warns about libstdc++'s own regex internals (-Wmaybe-uninitialized,
// a false positive at -O1); silence it for this header only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic pop
#include <utility>

#include "ingest/internal/masking_rules.h"
#include "ingest/internal/miner_state.h"

namespace faultline::ingest {

using internal::HashBytes;

namespace {

constexpr std::string_view kWildcard = "<*>";
// Quoted values may span this many whitespace tokens ('connection reset by
// peer'); an unmatched quote further away is read as an apostrophe.
constexpr size_t kMaxQuotedTokens = 16;

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

// Does raw token `token` end a quote opened by `quote` (ignoring trailing
// sentence punctuation)?
bool ClosesQuote(std::string_view token, char quote, bool first) {
  size_t end = token.size();
  while (end > 0 && (token[end - 1] == ',' || token[end - 1] == ';' || token[end - 1] == '.' ||
                     token[end - 1] == ')' || token[end - 1] == ':')) {
    --end;
  }
  if (end == 0) return false;
  return token[end - 1] == quote && !(first && end == 1);
}

bool IsAlnumOrPercent(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '%';
}

// Raw token whose value part ends in a digit ("1.16", "(12", "<1").
bool EndsInNumber(std::string_view raw) {
  size_t end = raw.size();
  while (end > 0 && !IsAlnumOrPercent(raw[end - 1])) --end;
  return end > 0 && raw[end - 1] >= '0' && raw[end - 1] <= '9';
}

bool IsDateWord(std::string_view raw) {
  size_t end = raw.size();
  while (end > 0 && (raw[end - 1] == ',' || raw[end - 1] == '.')) --end;
  if (end != 3) return false;
  char word[3];
  for (size_t i = 0; i < 3; ++i) word[i] = static_cast<char>(raw[i] | 0x20);  // lower case
  static constexpr std::string_view kNames[] = {
      "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
      "nov", "dec", "mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  for (std::string_view name : kNames) {
    if (std::string_view(word, 3) == name) return true;
  }
  return false;
}

}  // namespace

Status MinerOptions::Validate() const {
  if (!(similarity > 0.0 && similarity <= 1.0)) {
    return Status::InvalidArgument("templates: similarity must be in (0, 1]");
  }
  if (max_templates_per_service == 0) {
    return Status::InvalidArgument("templates: max_templates_per_service must be at least 1");
  }
  if (max_tokens < 2) return Status::InvalidArgument("templates: max_tokens must be at least 2");
  for (const MaskRule& rule : extra_masks) {
    if (rule.name.empty()) return Status::InvalidArgument("templates: a mask rule has no name");
    if (rule.regex.empty()) {
      return Status::InvalidArgument("templates: mask rule '" + rule.name + "' has no regex");
    }
  }
  return Status::Ok();
}

Result<std::shared_ptr<const Masker>> CompileMasker(const MinerOptions& options) {
  FL_RETURN_IF_ERROR(options.Validate());
  std::vector<Masker::Rule> rules;
  for (const MaskRule& rule : options.extra_masks) {
    Masker::Rule compiled;
    compiled.name = rule.name;
    compiled.replacement = "<" + rule.name + ">";
    // std::regex reports a bad pattern by throwing; this is the one place
    // that turns it into a Status.
    try {
      compiled.regex = std::regex(rule.regex, std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error& e) {
      return Status::InvalidArgument("templates: mask rule '" + rule.name +
                                     "': bad regex: " + e.what());
    }
    rules.push_back(std::move(compiled));
  }
  return std::shared_ptr<const Masker>(
      std::make_shared<const Masker>(std::move(rules), options.max_tokens));
}

void PreparedMessage::Clear() {
  tokens.clear();
  masked.clear();
  storage.clear();
  raw.clear();
  hashes.clear();
}

std::string TemplateIdString(uint64_t id) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(id));
  return std::string(buf, 16);
}

void TemplateMiner::Prepare(const Masker& masker, std::string_view message,
                            PreparedMessage* out) {
  out->Clear();
  // Masked text is at most 3 bytes per input byte ("1" -> "<*>"), so one
  // reservation usually covers it.
  const size_t reserve = message.size() * 3 + 16;
  if (out->storage.capacity() < reserve) out->storage.reserve(reserve);
  const size_t max_tokens = masker.max_tokens();

  // Offsets first (a rule's replacement may outgrow the reservation and move
  // the buffer); views are built once at the end.
  size_t pos = 0;
  const size_t n = message.size();
  while (true) {
    while (pos < n && IsSpace(message[pos])) ++pos;
    if (pos >= n) break;
    size_t end = pos;
    while (end < n && !IsSpace(message[end])) ++end;
    std::string_view raw = message.substr(pos, end - pos);
    bool fold = false;
    if (out->raw.size() + 1 == max_tokens) {
      // The last token takes the rest of the message.
      size_t last = n;
      while (last > pos && IsSpace(message[last - 1])) --last;
      if (last > end) {
        raw = message.substr(pos, last - pos);
        end = last;
        fold = true;
      }
    } else if ((raw[0] == '"' || raw[0] == '\'') && !ClosesQuote(raw, raw[0], true)) {
      // A quoted value with spaces is one token.
      size_t scan = end;
      for (size_t extra = 0; extra < kMaxQuotedTokens; ++extra) {
        while (scan < n && IsSpace(message[scan])) ++scan;
        if (scan >= n) break;
        size_t scan_end = scan;
        while (scan_end < n && !IsSpace(message[scan_end])) ++scan_end;
        if (ClosesQuote(message.substr(scan, scan_end - scan), raw[0], false)) {
          raw = message.substr(pos, scan_end - pos);
          end = scan_end;
          break;
        }
        scan = scan_end;
      }
    }
    // A unit after a number belongs to the value: "1.16 KB)" reads like
    // "1.16KB)", "<1 sec" like "00:02".
    if (!fold && !out->raw.empty() && out->tokens.back().size() >= kWildcard.size() &&
        std::string_view(out->storage).substr(out->storage.size() - kWildcard.size()) ==
            kWildcard &&
        EndsInNumber(out->raw.back()) && internal::IsUnitWord(raw)) {
      size_t closers = raw.size();
      while (closers > 0 && !IsAlnumOrPercent(raw[closers - 1])) --closers;
      out->storage.append(raw.substr(closers));
      const std::string_view prev = out->raw.back();
      out->raw.back() = std::string_view(prev.data(), static_cast<size_t>(
                                                          raw.data() + raw.size() - prev.data()));
      out->tokens.back() = std::string_view(message.data(), out->storage.size() - out->hashes.back());
      if (closers < raw.size()) out->masked.back() = 0;
      pos = end;
      continue;
    }
    const size_t before = out->storage.size();
    bool full;
    if (fold) {
      out->storage.append(kWildcard);
      full = true;
    } else {
      full = masker.MaskToken(raw, &out->storage);
    }
    out->raw.push_back(raw);
    out->masked.push_back(full ? 1 : 0);
    // The offset waits in `hashes` until the buffer is final.
    out->hashes.push_back(before);
    out->tokens.emplace_back(message.data(), out->storage.size() - before);
    pos = end;
    if (fold) break;
  }
  // Month and weekday names next to a number are part of a timestamp
  // ("Sun Jul  3 10:05:25 2005").
  // Right to left, so that "Sun" sees "Jul" already masked.
  for (size_t i = out->raw.size(); i-- > 0;) {
    if (out->masked[i] || !IsDateWord(out->raw[i])) continue;
    const bool next_number =
        i + 1 < out->raw.size() &&
        ((out->raw[i + 1][0] >= '0' && out->raw[i + 1][0] <= '9') || out->masked[i + 1]);
    const bool prev_number = i > 0 && EndsInNumber(out->raw[i - 1]);
    if (!next_number && !prev_number) continue;
    out->hashes[i] = out->storage.size();
    out->storage.append(kWildcard);
    out->tokens[i] = std::string_view(message.data(), kWildcard.size());
    out->masked[i] = 1;
  }
  const char* base = out->storage.data();
  for (size_t i = 0; i < out->tokens.size(); ++i) {
    out->tokens[i] = std::string_view(base + out->hashes[i], out->tokens[i].size());
    out->hashes[i] = HashBytes(out->tokens[i]);
  }
}

struct TemplateMiner::Impl {
  MinerOptions options;
  std::shared_ptr<const Masker> masker;
  internal::MinerState state;
  PreparedMessage scratch;
};

TemplateMiner::TemplateMiner(const MinerOptions& options, std::shared_ptr<const Masker> masker)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  impl_->masker = std::move(masker);
  impl_->state.Init(options, impl_->masker.get());
}

TemplateMiner::~TemplateMiner() = default;

void TemplateMiner::Restore(const std::vector<MinedTemplate>& templates) {
  for (const MinedTemplate& t : templates) impl_->state.Restore(t);
}

TemplateMiner::ServiceHandle TemplateMiner::ServiceOf(std::string_view service) {
  return impl_->state.ServiceIndex(service);
}

uint64_t TemplateMiner::Mine(ServiceHandle service, const PreparedMessage& prepared,
                             int64_t ts_ns, std::vector<std::string_view>* params) {
  return impl_->state.service(service).Mine(prepared, ts_ns, params);
}

uint64_t TemplateMiner::Mine(std::string_view service, const PreparedMessage& prepared,
                             int64_t ts_ns, std::vector<std::string_view>* params) {
  return Mine(ServiceOf(service), prepared, ts_ns, params);
}

uint64_t TemplateMiner::MineMessage(std::string_view service, std::string_view message,
                                    int64_t ts_ns, std::vector<std::string>* params) {
  Prepare(*impl_->masker, message, &impl_->scratch);
  std::vector<std::string_view> views;
  const uint64_t id = Mine(service, impl_->scratch, ts_ns, params != nullptr ? &views : nullptr);
  if (params != nullptr) params->insert(params->end(), views.begin(), views.end());
  return id;
}

void TemplateMiner::TakeDirty(std::vector<MinedTemplate>* changed,
                              std::vector<TemplateCounts>* counted) {
  impl_->state.TakeDirty(changed, counted);
}

std::vector<MinedTemplate> TemplateMiner::Snapshot() const { return impl_->state.Snapshot(); }

const MinedTemplate* TemplateMiner::Find(uint64_t id) const { return impl_->state.Find(id); }

MinerCounters TemplateMiner::counters() const { return impl_->state.counters(); }

}  // namespace faultline::ingest
