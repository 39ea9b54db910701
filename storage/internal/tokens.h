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

// Per byte: 0 for separators, else the byte lower-cased (ASCII). A table
// because tokenizing every message is on the ingest hot path.
struct TokenTable {
  unsigned char lower[256];
  constexpr TokenTable() : lower() {
    for (int c = 0; c < 256; ++c) {
      const bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
      lower[c] = static_cast<unsigned char>(!word ? 0 : (c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
  }
};
inline constexpr TokenTable kTokenTable;

inline bool IsTokenByte(unsigned char c) { return kTokenTable.lower[c] != 0; }

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

// Like ForEachToken, but the tokens passed to fn are already lower-cased
// (views into `scratch`, valid until the next call): one pass lowers and
// splits, so each token is hashed without another copy.
template <typename Fn>
void ForEachLoweredToken(std::string_view text, std::string* scratch, Fn&& fn) {
  scratch->resize(text.size() + 1);
  char* out = scratch->data();
  size_t start = 0;
  size_t length = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char lowered = kTokenTable.lower[static_cast<unsigned char>(text[i])];
    out[i] = static_cast<char>(lowered);
    if (lowered != 0) {
      if (length == 0) start = i;
      ++length;
    } else if (length > 0) {
      fn(std::string_view(out + start, length));
      length = 0;
    }
  }
  if (length > 0) fn(std::string_view(out + start, length));
}

// Whether a token goes into the token bloom. Only tokens without an ASCII
// digit do: words come from the bounded vocabulary of a fleet's log
// statements, while numbers, ids, durations and hex hashes are nearly unique
// per line and would make the blooms as large as the messages (measured: 30x
// larger on the bench corpus) for no benefit, since a grep for a number
// cannot skip much anyway. A grep still matches such tokens exactly; they
// just do not prune blocks.
inline bool IsIndexedToken(std::string_view token) {
  for (char c : token) {
    if (c >= '0' && c <= '9') return false;
  }
  return true;
}

// Hash of the lower-cased token (the bloom key).
uint64_t HashToken(std::string_view token);
// The same for a token that is lower-case already.
uint64_t HashLoweredToken(std::string_view lowered);
// Hash of a trace id (the trace bloom key); exact bytes.
uint64_t HashTraceId(std::string_view trace_id);

// Query.grep: the message's token sequence contains the query's tokens
// consecutively (ASCII case ignored). A grep with no token at all (only
// punctuation) falls back to a case-insensitive substring match.
class GrepMatcher {
 public:
  explicit GrepMatcher(std::string_view grep);
  bool Matches(std::string_view message) const;
  // Bloom keys of the query's indexed tokens (IsIndexedToken): every one
  // must be present for a block to match. Empty: no block can be skipped.
  const std::vector<uint64_t>& token_hashes() const { return hashes_; }

 private:
  std::string pattern_;              // lower-cased, for the substring fallback
  std::vector<std::string> tokens_;  // lower-cased
  std::vector<uint64_t> hashes_;
};

bool EqualsIgnoreAsciiCase(std::string_view a, std::string_view lower);
bool ContainsIgnoreAsciiCase(std::string_view haystack, std::string_view lower_needle);

}  // namespace faultline::storage::internal
