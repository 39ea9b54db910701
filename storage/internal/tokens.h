// Message tokens: what the token bloom filters index and how Query.grep
// matches.
//
// A token is a maximal run of ASCII letters, digits, '_' and bytes >= 0x80
// (so UTF-8 words stay whole), compared ignoring ASCII case. The writer hashes
// each lower-cased token of each message into the block's token bloom; a grep
// query is tokenized the same way, and a block whose bloom lacks any query
// token cannot match and is skipped. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace faultline::storage::internal {

inline bool IsTokenByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c >= 0x80;
}

inline char LowerAscii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// Calls fn(token) for each token of `text`, in order.
template <typename Fn>
void ForEachToken(std::string_view text, Fn&& fn) {
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    while (i < n && !IsTokenByte(static_cast<unsigned char>(text[i]))) ++i;
    const size_t start = i;
    while (i < n && IsTokenByte(static_cast<unsigned char>(text[i]))) ++i;
    if (i > start) fn(text.substr(start, i - start));
  }
}

// Hash of the lower-cased token (the bloom key).
uint64_t HashToken(std::string_view token);
// Hash of a trace id (the trace bloom key); exact bytes.
uint64_t HashTraceId(std::string_view trace_id);

// Query.grep: the message's token sequence contains the query's tokens
// consecutively (ASCII case ignored). A grep with no token at all (only
// punctuation) falls back to a case-insensitive substring match.
class GrepMatcher {
 public:
  explicit GrepMatcher(std::string_view grep);
  bool Matches(std::string_view message) const;
  // Bloom keys: every one must be present for a block to match.
  const std::vector<uint64_t>& token_hashes() const { return hashes_; }

 private:
  std::string pattern_;              // lower-cased, for the substring fallback
  std::vector<std::string> tokens_;  // lower-cased
  std::vector<uint64_t> hashes_;
};

bool EqualsIgnoreAsciiCase(std::string_view a, std::string_view lower);
bool ContainsIgnoreAsciiCase(std::string_view haystack, std::string_view lower_needle);

}  // namespace faultline::storage::internal
