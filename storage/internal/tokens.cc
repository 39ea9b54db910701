#include "storage/internal/tokens.h"

#include <algorithm>
#include <cstring>

#include "storage/internal/hash.h"

namespace faultline::storage::internal {

namespace {
constexpr uint64_t kTokenSeed = 0x746f6b656e;  // distinct from trace ids
constexpr uint64_t kTraceSeed = 0x7472616365;
}  // namespace

uint64_t HashLoweredToken(std::string_view lowered) { return Hash64(lowered, kTokenSeed); }

uint64_t HashToken(std::string_view token) {
  char small[64];
  if (token.size() <= sizeof(small)) {
    for (size_t i = 0; i < token.size(); ++i) small[i] = LowerAscii(token[i]);
    return Hash64(std::string_view(small, token.size()), kTokenSeed);
  }
  std::string lower(token);
  for (char& c : lower) c = LowerAscii(c);
  return Hash64(lower, kTokenSeed);
}

uint64_t HashTraceId(std::string_view trace_id) { return Hash64(trace_id, kTraceSeed); }

bool EqualsIgnoreAsciiCase(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (LowerAscii(a[i]) != lower[i]) return false;
  }
  return true;
}

bool ContainsIgnoreAsciiCase(std::string_view haystack, std::string_view lower_needle) {
  if (lower_needle.empty()) return true;
  if (haystack.size() < lower_needle.size()) return false;
  // Candidates start with the needle's first byte in either case; memchr
  // finds them at SIMD speed, which matters when a grep scans every message.
  const char first = lower_needle[0];
  const char upper = (first >= 'a' && first <= 'z') ? static_cast<char>(first - 32) : first;
  const char* const begin = haystack.data();
  const char* const last = begin + (haystack.size() - lower_needle.size());
  const char* at = begin;
  while (at <= last) {
    const size_t span = static_cast<size_t>(last - at) + 1;
    const char* lo = static_cast<const char*>(std::memchr(at, first, span));
    const char* up = upper == first ? nullptr : static_cast<const char*>(std::memchr(at, upper, span));
    const char* hit = lo == nullptr ? up : (up == nullptr ? lo : std::min(lo, up));
    if (hit == nullptr) return false;
    if (EqualsIgnoreAsciiCase(std::string_view(hit, lower_needle.size()), lower_needle)) {
      return true;
    }
    at = hit + 1;
  }
  return false;
}

GrepMatcher::GrepMatcher(std::string_view grep) : pattern_(grep) {
  for (char& c : pattern_) c = LowerAscii(c);
  ForEachToken(pattern_, [&](std::string_view token) {
    tokens_.emplace_back(token);
    if (IsIndexedToken(token)) hashes_.push_back(HashToken(token));
  });
}

bool GrepMatcher::Matches(std::string_view message) const {
  if (tokens_.empty()) return ContainsIgnoreAsciiCase(message, pattern_);
  // Most messages of a scanned block lack the first word even as a
  // substring; rejecting those with memchr spares tokenizing them.
  if (!ContainsIgnoreAsciiCase(message, tokens_[0])) return false;
  if (tokens_.size() == 1) {
    bool found = false;
    ForEachToken(message, [&](std::string_view token) {
      found = found || EqualsIgnoreAsciiCase(token, tokens_[0]);
    });
    return found;
  }
  // Several tokens: try each start position (query token runs are short, and
  // a naive check stays exact when the query repeats itself, "a a b").
  thread_local std::vector<std::string_view> message_tokens;
  message_tokens.clear();
  ForEachToken(message, [&](std::string_view token) { message_tokens.push_back(token); });
  for (size_t start = 0; start + tokens_.size() <= message_tokens.size(); ++start) {
    size_t matched = 0;
    while (matched < tokens_.size() &&
           EqualsIgnoreAsciiCase(message_tokens[start + matched], tokens_[matched])) {
      ++matched;
    }
    if (matched == tokens_.size()) return true;
  }
  return false;
}

}  // namespace faultline::storage::internal
