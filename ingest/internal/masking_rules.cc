#include "ingest/internal/masking_rules.h"

#include <cstring>

namespace faultline::ingest {

namespace {

constexpr std::string_view kWildcard = "<*>";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsHex(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Brackets and quotes that open a token, and those plus sentence punctuation
// that close one: kept as constant text around a masked core, so that
// "(1.16" and "(2.5" read alike without splitting the token.
bool IsOpener(char c) {
  return c == '(' || c == '[' || c == '{' || c == '<' || c == '"' || c == '\'';
}
bool IsCloser(char c) {
  return c == ')' || c == ']' || c == '}' || c == '>' || c == '"' || c == '\'' || c == ',' ||
         c == ';' || c == ':' || c == '.' || c == '!' || c == '?';
}

// A key in key=value / key:value: an identifier, possibly dotted or dashed.
bool IsKey(std::string_view key) {
  if (key.empty() || !(IsAlpha(key[0]) || key[0] == '_')) return false;
  for (char c : key) {
    if (!(IsAlpha(c) || IsDigit(c) || c == '_' || c == '.' || c == '-')) return false;
  }
  return true;
}

}  // namespace

namespace internal {

bool IsUnitWord(std::string_view token) {
  size_t end = token.size();
  while (end > 0 && IsCloser(token[end - 1])) --end;
  const std::string_view core = token.substr(0, end);
  if (core.empty() || core.size() > 7) return false;
  char lower[8];
  for (size_t i = 0; i < core.size(); ++i) {
    const char c = core[i];
    lower[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  const std::string_view word(lower, core.size());
  // Sizes, durations and rates that follow a number as a separate word.
  static constexpr std::string_view kUnits[] = {
      "b",   "byte", "bytes", "kb",   "kib",  "mb",      "mib",     "gb",    "gib",
      "tb",  "tib",  "k",     "m",    "g",    "ns",      "us",      "ms",    "s",
      "sec", "secs", "second", "seconds", "min", "mins", "minute", "minutes", "h",
      "hr",  "hrs",  "hour",  "hours", "day", "days",    "%",       "kbps",  "mbps",
      "gbps"};
  for (std::string_view unit : kUnits) {
    if (word == unit) return true;
  }
  return false;
}


bool IsBuiltinVariable(std::string_view core) {
  if (core.empty()) return false;
  // Digits: numbers, hex ids, IPs and ports, UUIDs, timestamps, durations and
  // sizes with units ("250ms", "1.5GiB"), versions. In log messages a token
  // with a digit is a value far more often than a keyword; the constant
  // exceptions ("HTTP/1.1", "utf8") then only cost a wildcard in a position
  // that never varies.
  // The exception is a short digit suffix glued to a word ("eth0", "alt0",
  // "sda1", "log4j"): such names are nearly always fixed parts of a
  // message, so a token counts as a number only when a digit starts it,
  // follows punctuation ("node-12", "v1.2", "attempt_77"), or there are
  // three or more.
  bool all_hex = true;
  bool at = false;
  size_t digits = 0;
  bool digit_starts = false;
  bool digit_after_punct = false;
  bool seen_alnum = false;
  for (size_t i = 0; i < core.size(); ++i) {
    const char c = core[i];
    if (IsDigit(c)) {
      ++digits;
      if (!seen_alnum) digit_starts = true;
      if (i > 0 && !IsDigit(core[i - 1]) && !IsAlpha(core[i - 1])) digit_after_punct = true;
    }
    if (IsDigit(c) || IsAlpha(c)) seen_alnum = true;
    if (!IsHex(c)) all_hex = false;
    if (c == '@' && i > 0 && i + 1 < core.size()) at = true;
  }
  if (digit_starts || digit_after_punct || digits >= 3) return true;
  // Hex ids without a digit ("deadbeefcafe"): long enough not to be a word.
  if (all_hex && core.size() >= 8) return true;
  // E-mail addresses and user@host.
  if (at) return true;
  // URLs.
  if (core.find("://") != std::string_view::npos) return true;
  // Paths: absolute, home- or dot-relative.
  if (core[0] == '/' && core.size() > 1) return true;
  if (core.size() > 2 && (core.substr(0, 2) == "~/" || core.substr(0, 2) == "./")) return true;
  if (core.size() > 3 && core.substr(0, 3) == "../") return true;
  return false;
}

uint64_t HashBytes(std::string_view text, uint64_t seed) {
  // A word at a time with a multiply-xorshift mix: tokens are short, so this
  // beats byte-wise FNV and is plenty for hash-table keys.
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ULL;
  uint64_t h = seed ^ (text.size() * kMul);
  const char* p = text.data();
  size_t n = text.size();
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    h = (h ^ word) * kMul;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    uint64_t word = 0;
    std::memcpy(&word, p, n);
    h = (h ^ word) * kMul;
    h ^= h >> 29;
  }
  h *= 0xBF58476D1CE4E5B9ULL;
  h ^= h >> 32;
  return h;
}

}  // namespace internal

bool Masker::MaskToken(std::string_view raw, std::string* out) const {
  const size_t n = raw.size();
  size_t begin = 0;
  size_t end = n;
  while (begin < end && IsOpener(raw[begin])) ++begin;
  while (end > begin && IsCloser(raw[end - 1])) --end;
  if (begin == end) {  // punctuation only ("-", "...", "=>")
    out->append(raw);
    return false;
  }
  const std::string_view core = raw.substr(begin, end - begin);
  const std::string_view head = raw.substr(0, begin);
  const std::string_view tail = raw.substr(end);

  auto emit = [&](std::string_view prefix, std::string_view replacement) {
    out->append(head);
    out->append(prefix);
    out->append(replacement);
    out->append(tail);
    return head.empty() && tail.empty() && prefix.empty();
  };

  // The config's rules first, so that they can name what a built-in kind
  // would call just <*>.
  for (const Rule& rule : rules_) {
    if (std::regex_match(raw.begin(), raw.end(), rule.regex)) {
      out->append(rule.replacement);
      return true;
    }
    if (std::regex_match(core.begin(), core.end(), rule.regex)) {
      return emit({}, rule.replacement);
    }
  }

  // Quoted values: 'root', "GET /x".
  if (begin > 0 && end < n && (raw[begin - 1] == '"' || raw[begin - 1] == '\'') &&
      raw[end] == raw[begin - 1]) {
    return emit({}, kWildcard);
  }

  // key=value: the key is part of the template, the value never is.
  if (const size_t eq = core.find('='); eq != std::string_view::npos && eq > 0) {
    const std::string_view key = core.substr(0, eq);
    if (IsKey(key)) {
      // "ruser=": nothing to mask. A plain word ("status=ok", "user=root")
      // mostly names a case of the event rather than a value; it stays.
      bool word = true;
      for (size_t i = eq + 1; i < core.size() && word; ++i) word = IsAlpha(core[i]);
      if (eq + 1 == core.size() || word) {
        out->append(raw);
        return false;
      }
      emit(core.substr(0, eq + 1), kWildcard);
      return false;
    }
  }
  // key:value with a variable value ("port:8080", "size:12MB").
  if (const size_t colon = core.find(':'); colon != std::string_view::npos && colon > 0 &&
                                           colon + 1 < core.size()) {
    const std::string_view key = core.substr(0, colon);
    bool letters = true;
    for (char c : key) letters = letters && (IsAlpha(c) || c == '_' || c == '-');
    if (letters && internal::IsBuiltinVariable(core.substr(colon + 1)) &&
        core.find("://") == std::string_view::npos) {
      emit(core.substr(0, colon + 1), kWildcard);
      return false;
    }
  }

  // Dotted leaders: "instruction......0" keeps its words.
  if (const size_t dots = core.find("..."); dots != std::string_view::npos && dots > 0) {
    size_t value = dots;
    while (value < core.size() && core[value] == '.') ++value;
    if (value < core.size() && internal::IsBuiltinVariable(core.substr(value))) {
      return emit(core.substr(0, value), kWildcard);
    }
  }

  if (internal::IsBuiltinVariable(core)) return emit({}, kWildcard);
  out->append(raw);
  return false;
}

}  // namespace faultline::ingest
