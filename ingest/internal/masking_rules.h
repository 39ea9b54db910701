// Masking of variable tokens for the template miner: fast hand-written
// classifiers for the built-in kinds, plus the config file's extra rules
// (std::regex, only consulted for tokens no built-in kind claimed).
//
// Thread-safety: a Masker is immutable after construction; share it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// GCC 12 reports a false -Wmaybe-uninitialized inside libstdc++'s <regex>
// (std::function in the NFA states) at -O1 and above.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#pragma GCC diagnostic pop

#include "ingest/template_miner.h"

namespace faultline::ingest {

class Masker {
 public:
  struct Rule {
    std::string name;
    std::string replacement;  // "<name>"
    std::regex regex;
  };
  Masker(std::vector<Rule> rules, size_t max_tokens)
      : rules_(std::move(rules)), max_tokens_(max_tokens) {}

  // Writes the masked form of whitespace token `raw` to `out` (appending) and
  // returns true when the whole token is a variable ("<*>" or a rule's
  // "<name>"). Partly masked tokens ("uid=<*>", "(<*>)") return false: their
  // constant parts still tell templates apart.
  bool MaskToken(std::string_view raw, std::string* out) const;

  const std::vector<Rule>& rules() const { return rules_; }
  size_t max_tokens() const { return max_tokens_; }

 private:
  std::vector<Rule> rules_;
  size_t max_tokens_;
};

namespace internal {

// True when `core` (a token without surrounding brackets and punctuation)
// is a variable of a built-in kind.
bool IsBuiltinVariable(std::string_view core);

// True when `token` (trailing punctuation allowed) is a unit of size, time
// or rate ("KB)", "sec", "ms,"): after a number it belongs to the value.
bool IsUnitWord(std::string_view token);

// Fast 64-bit hash of short strings (token comparison and tree keys).
uint64_t HashBytes(std::string_view text, uint64_t seed = 0);

}  // namespace internal
}  // namespace faultline::ingest
