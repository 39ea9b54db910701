#include "ingest/internal/text_scan.h"

namespace faultline::ingest::internal {

namespace {

inline bool IsKeyStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '@';
}
inline bool IsKeyChar(char c) {
  return IsKeyStart(c) || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '/';
}
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
inline bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Walks a JSON text tracking nesting outside strings. Returns the final depth
// and whether a string was left open; `max_depth` gets the deepest level.
struct Nesting {
  int depth = 0;
  int max_depth = 0;
  bool open_string = false;
  bool underflow = false;
};

Nesting ScanNesting(std::string_view json) {
  Nesting n;
  bool escaped = false;
  for (char c : json) {
    if (n.open_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        n.open_string = false;
      }
      continue;
    }
    switch (c) {
      case '"': n.open_string = true; break;
      case '{':
      case '[':
        if (++n.depth > n.max_depth) n.max_depth = n.depth;
        break;
      case '}':
      case ']':
        if (--n.depth < 0) n.underflow = true;
        break;
      default: break;
    }
  }
  return n;
}

}  // namespace

size_t FindBinaryByte(std::string_view line) {
  for (size_t i = 0; i < line.size(); ++i) {
    const auto byte = static_cast<unsigned char>(line[i]);
    if ((byte < 0x20 && byte != '\t' && byte != 0x1B) || byte == 0x7F) return i;
  }
  return std::string_view::npos;
}

bool LooksLikeLogfmt(std::string_view line) {
  if (line.empty() || !IsKeyStart(line[0])) return false;
  for (size_t i = 1; i < line.size(); ++i) {
    if (line[i] == '=') return true;
    if (!IsKeyChar(line[i])) return false;
  }
  return false;
}

bool LogfmtScanner::Next(Pair* pair) {
  while (pos_ < line_.size() && (line_[pos_] == ' ' || line_[pos_] == '\t')) ++pos_;
  if (pos_ >= line_.size()) return false;
  const size_t key_begin = pos_;
  while (pos_ < line_.size() && line_[pos_] != '=' && line_[pos_] != ' ' &&
         line_[pos_] != '\t') {
    ++pos_;
  }
  pair->key = line_.substr(key_begin, pos_ - key_begin);
  pair->quoted = false;
  if (pos_ >= line_.size() || line_[pos_] != '=') {
    pair->value = "true";
    pair->bare = true;
    return true;
  }
  pair->bare = false;
  ++pos_;  // '='
  if (pos_ < line_.size() && line_[pos_] == '"') {
    ++pos_;
    const size_t begin = scratch_->size();
    while (pos_ < line_.size() && line_[pos_] != '"') {
      char c = line_[pos_++];
      if (c == '\\' && pos_ < line_.size()) {
        c = line_[pos_++];
        if (c == 'n') c = '\n';
        else if (c == 't') c = '\t';
        else if (c == 'r') c = '\r';
      }
      scratch_->push_back(c);
    }
    if (pos_ < line_.size()) ++pos_;  // closing quote; an open quote runs to the end
    pair->value = std::string_view(scratch_->data() + begin, scratch_->size() - begin);
    pair->quoted = true;
    return true;
  }
  const size_t value_begin = pos_;
  while (pos_ < line_.size() && line_[pos_] != ' ' && line_[pos_] != '\t') ++pos_;
  pair->value = line_.substr(value_begin, pos_ - value_begin);
  return true;
}

Level FindLevelToken(std::string_view text, int max_tokens) {
  size_t pos = 0;
  for (int token = 0; token < max_tokens && pos < text.size(); ++token) {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) ++pos;
    const size_t begin = pos;
    while (pos < text.size() && text[pos] != ' ' && text[pos] != '\t') ++pos;
    std::string_view word = text.substr(begin, pos - begin);
    // Strip the decoration loggers put around levels: [error], <WARN>, ERROR:
    while (!word.empty() && !IsAlpha(word.front())) word.remove_prefix(1);
    while (!word.empty() && !IsAlpha(word.back())) word.remove_suffix(1);
    Level level;
    if (!word.empty() && ParseLevel(word, &level) && level != Level::kUnknown) return level;
  }
  return Level::kUnknown;
}

bool IsJsonNumber(std::string_view text) {
  size_t i = 0;
  const size_t n = text.size();
  if (i < n && text[i] == '-') ++i;
  if (i >= n || !IsDigit(text[i])) return false;
  if (text[i] == '0') {
    ++i;
  } else {
    while (i < n && IsDigit(text[i])) ++i;
  }
  if (i < n && text[i] == '.') {
    ++i;
    if (i >= n || !IsDigit(text[i])) return false;
    while (i < n && IsDigit(text[i])) ++i;
  }
  if (i < n && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < n && (text[i] == '+' || text[i] == '-')) ++i;
    if (i >= n || !IsDigit(text[i])) return false;
    while (i < n && IsDigit(text[i])) ++i;
  }
  return i == n;
}

RejectReason ClassifyBrokenJson(std::string_view line) {
  const Nesting n = ScanNesting(line);
  if (!n.underflow && (n.open_string || n.depth > 0)) return RejectReason::kTruncatedJson;
  return RejectReason::kInvalidJson;
}

int JsonNestingDepth(std::string_view json) { return ScanNesting(json).max_depth; }

}  // namespace faultline::ingest::internal
