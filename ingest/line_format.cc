// LineFormat: compiles a header pattern into a small backtracking program.
//
// Pattern -> AST (recursive descent) -> flat program of instructions, run by
// an explicit-stack backtracking matcher with the same priority order as a
// Perl/Python regex of the logpai translation (`<F>` = `(?P<F>.*?)`, a space
// run = `\s+`, anchored `^...$`).
//
// Speed: a field is one LazyAny instruction that knows the set of bytes the
// rest of the pattern can start with, so it jumps (memchr / table scan) to the
// next position where the continuation can begin instead of stepping byte by
// byte; a field followed only by the end of the pattern jumps straight to the
// end of the line. Backtracking is exponential in the worst case, so the
// first attempt runs under a work budget (linear in the line length); when it
// runs out, the match is redone with a visited bitmap over (instruction,
// position), which bounds the work by program size x line length (the RE2
// "BitState" idea). Success from a state does not depend on captures (there
// are no backreferences natively), so pruning visited states is exact.
//
// Fallback: lookahead `(?=...)`/`(?!...)` and backreferences `\1`..`\9` are
// not compiled natively; a pattern that uses them is translated to an
// ECMAScript std::regex (fields become capture groups, backreferences are
// renumbered) and matched with std::regex_match. That path is much slower and
// is only for such patterns.
#include "ingest/line_format.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
// GCC 12 reports a false -Wmaybe-uninitialized inside libstdc++'s regex
// compiler (std::function in _StateT); silence it for that header only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#pragma GCC diagnostic pop
#include <string>
#include <vector>

namespace faultline::ingest {
namespace {

constexpr uint32_t kInfinite = std::numeric_limits<uint32_t>::max();
// Upper bound on instructions produced by expanding counted repetitions.
constexpr size_t kMaxProgramSize = 10000;
// Largest visited bitmap (bits) for the bounded retry: 32 MiB.
constexpr size_t kMaxMemoBits = size_t{1} << 28;

using ByteSet = std::array<bool, 256>;

ByteSet WhitespaceSet() {
  ByteSet set{};
  for (unsigned char c : std::string_view(" \t\n\v\f\r")) set[c] = true;
  return set;
}

bool IsWordByte(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || c == '_';
}

ByteSet WordSet() {
  ByteSet set{};
  for (int c = 0; c < 256; ++c) set[c] = IsWordByte(static_cast<unsigned char>(c));
  return set;
}

ByteSet DigitSet() {
  ByteSet set{};
  for (int c = '0'; c <= '9'; ++c) set[c] = true;
  return set;
}

ByteSet Negate(const ByteSet& set) {
  ByteSet out{};
  for (size_t i = 0; i < 256; ++i) out[i] = !set[i];
  return out;
}

void UnionInto(ByteSet* dst, const ByteSet& src) {
  for (size_t i = 0; i < 256; ++i) (*dst)[i] = (*dst)[i] || src[i];
}

// ---------------------------------------------------------------- AST

enum class NodeKind : unsigned char {
  kEmpty,
  kLiteral,  // one byte
  kClass,    // one byte out of a set
  kConcat,
  kAlternate,
  kRepeat,
  kField,
  kAssertBegin,
  kAssertEnd,
  kWordBoundary,
  kNotWordBoundary,
};

struct Node {
  NodeKind kind = NodeKind::kEmpty;
  unsigned char byte = 0;
  ByteSet set{};
  std::vector<Node> children;
  uint32_t min = 0;
  uint32_t max = 0;
  bool greedy = true;
  uint32_t field = 0;
};

Status ErrorAt(size_t index, std::string_view what) {
  return Status::InvalidArgument("line format column " +
                                 std::to_string(index + 1) + ": " +
                                 std::string(what));
}

class Parser {
 public:
  explicit Parser(std::string_view pattern) : p_(pattern) {}

  Result<Node> Parse() {
    FL_ASSIGN_OR_RETURN(Node node, ParseAlternation());
    if (pos_ < p_.size()) {
      // Only a ')' stops ParseAlternation early at depth 0.
      return ErrorAt(pos_, "unbalanced ')'");
    }
    return node;
  }

  std::vector<std::string>& fields() { return fields_; }
  bool needs_fallback() const { return needs_fallback_; }

 private:
  Result<Node> ParseAlternation() {
    Node alt;
    alt.kind = NodeKind::kAlternate;
    while (true) {
      FL_ASSIGN_OR_RETURN(Node branch, ParseConcat());
      alt.children.push_back(std::move(branch));
      if (pos_ < p_.size() && p_[pos_] == '|') {
        ++pos_;
        continue;
      }
      break;
    }
    if (alt.children.size() == 1) return std::move(alt.children[0]);
    return alt;
  }

  Result<Node> ParseConcat() {
    Node concat;
    concat.kind = NodeKind::kConcat;
    while (pos_ < p_.size() && p_[pos_] != '|' && p_[pos_] != ')') {
      FL_ASSIGN_OR_RETURN(std::optional<Node> atom, ParseAtom());
      if (!atom.has_value()) continue;  // e.g. a lookahead handled by fallback
      FL_ASSIGN_OR_RETURN(Node quantified,
                          ParseQuantifiers(std::move(*atom)));
      concat.children.push_back(std::move(quantified));
    }
    return concat;
  }

  Result<Node> ParseQuantifiers(Node atom) {
    while (pos_ < p_.size()) {
      const char c = p_[pos_];
      uint32_t min = 0;
      uint32_t max = 0;
      const size_t q_pos = pos_;
      if (c == '*') {
        min = 0, max = kInfinite, ++pos_;
      } else if (c == '+') {
        min = 1, max = kInfinite, ++pos_;
      } else if (c == '?') {
        min = 0, max = 1, ++pos_;
      } else if (c == '{') {
        std::optional<std::pair<uint32_t, uint32_t>> counts = ParseCounts();
        if (!counts.has_value()) break;  // a literal '{', as in Python
        min = counts->first;
        max = counts->second;
        if (max < min) return ErrorAt(q_pos, "repetition {m,n} with n < m");
      } else {
        break;
      }
      if (atom.kind == NodeKind::kAssertBegin || atom.kind == NodeKind::kAssertEnd ||
          atom.kind == NodeKind::kEmpty) {
        return ErrorAt(q_pos, std::string("nothing to repeat before '") + c + "'");
      }
      Node repeat;
      repeat.kind = NodeKind::kRepeat;
      repeat.min = min;
      repeat.max = max;
      repeat.greedy = true;
      if (pos_ < p_.size() && p_[pos_] == '?') {
        repeat.greedy = false;
        ++pos_;
      }
      repeat.children.push_back(std::move(atom));
      atom = std::move(repeat);
    }
    return atom;
  }

  // `{m}`, `{m,}`, `{m,n}`, `{,n}` at pos_; advances past it on success.
  std::optional<std::pair<uint32_t, uint32_t>> ParseCounts() {
    size_t i = pos_ + 1;
    auto read_number = [&](std::optional<uint32_t>* out) {
      uint64_t value = 0;
      bool any = false;
      while (i < p_.size() && p_[i] >= '0' && p_[i] <= '9') {
        value = value * 10 + static_cast<uint64_t>(p_[i] - '0');
        if (value > 100000) value = 100000;
        any = true;
        ++i;
      }
      if (any) *out = static_cast<uint32_t>(value);
    };
    std::optional<uint32_t> lo;
    std::optional<uint32_t> hi;
    read_number(&lo);
    bool comma = false;
    if (i < p_.size() && p_[i] == ',') {
      comma = true;
      ++i;
      read_number(&hi);
    }
    if (i >= p_.size() || p_[i] != '}') return std::nullopt;
    if (!lo.has_value() && !hi.has_value()) return std::nullopt;
    pos_ = i + 1;
    const uint32_t min = lo.value_or(0);
    const uint32_t max = comma ? hi.value_or(kInfinite) : min;
    return std::make_pair(min, max);
  }

  static Node Byte(unsigned char c) {
    Node node;
    node.kind = NodeKind::kLiteral;
    node.byte = c;
    return node;
  }
  static Node Class(const ByteSet& set) {
    Node node;
    node.kind = NodeKind::kClass;
    node.set = set;
    return node;
  }

  Result<std::optional<Node>> ParseAtom() {
    const size_t start = pos_;
    const char c = p_[pos_];
    switch (c) {
      case ' ': {
        while (pos_ < p_.size() && p_[pos_] == ' ') ++pos_;
        Node repeat;
        repeat.kind = NodeKind::kRepeat;
        repeat.min = 1;
        repeat.max = kInfinite;
        repeat.children.push_back(Class(WhitespaceSet()));
        return std::optional<Node>(std::move(repeat));
      }
      case '<':
        return ParseField();
      case '(':
        return ParseGroup();
      case '[': {
        FL_ASSIGN_OR_RETURN(ByteSet set, ParseClass());
        return std::optional<Node>(Class(set));
      }
      case '.': {
        ++pos_;
        ByteSet set;
        set.fill(true);
        set['\n'] = false;
        return std::optional<Node>(Class(set));
      }
      case '^': {
        ++pos_;
        Node node;
        node.kind = NodeKind::kAssertBegin;
        return std::optional<Node>(std::move(node));
      }
      case '$': {
        ++pos_;
        Node node;
        node.kind = NodeKind::kAssertEnd;
        return std::optional<Node>(std::move(node));
      }
      case '*':
      case '+':
      case '?':
        return ErrorAt(start, std::string("nothing to repeat before '") + c + "'");
      case '\\':
        return ParseEscape(/*in_class=*/false);
      default:
        ++pos_;
        return std::optional<Node>(Byte(static_cast<unsigned char>(c)));
    }
  }

  Result<std::optional<Node>> ParseField() {
    const size_t start = pos_;
    size_t i = pos_ + 1;
    while (i < p_.size() && p_[i] != '>' && p_[i] != '<') ++i;
    if (i >= p_.size() || p_[i] != '>') return ErrorAt(start, "unclosed '<'");
    std::string_view name = p_.substr(pos_ + 1, i - pos_ - 1);
    if (name.empty()) return ErrorAt(start, "empty field name '<>'");
    for (size_t k = 0; k < name.size(); ++k) {
      const unsigned char ch = static_cast<unsigned char>(name[k]);
      if (!IsWordByte(ch) || (k == 0 && ch >= '0' && ch <= '9')) {
        return ErrorAt(start + 1 + k, "invalid character in field name '" +
                                          std::string(name) + "'");
      }
    }
    for (const std::string& existing : fields_) {
      if (existing == name) {
        return ErrorAt(start, "duplicate field name '" + std::string(name) + "'");
      }
    }
    fields_.emplace_back(name);
    pos_ = i + 1;
    Node node;
    node.kind = NodeKind::kField;
    node.field = static_cast<uint32_t>(fields_.size() - 1);
    return std::optional<Node>(std::move(node));
  }

  Result<std::optional<Node>> ParseGroup() {
    const size_t start = pos_;
    ++pos_;
    bool lookahead = false;
    if (pos_ < p_.size() && p_[pos_] == '?') {
      const std::string_view rest = p_.substr(pos_);
      if (rest.substr(0, 2) == "?:") {
        pos_ += 2;
      } else if (rest.substr(0, 2) == "?=" || rest.substr(0, 2) == "?!") {
        pos_ += 2;
        lookahead = true;
        needs_fallback_ = true;
      } else if (rest.substr(0, 3) == "?<=" || rest.substr(0, 3) == "?<!") {
        return ErrorAt(start, "lookbehind is not supported");
      } else if (rest.substr(0, 3) == "?P<") {
        return ErrorAt(start, "named groups are not supported; write <Name>");
      } else {
        return ErrorAt(start, "unsupported group syntax '(?'");
      }
    }
    FL_ASSIGN_OR_RETURN(Node inner, ParseAlternation());
    if (pos_ >= p_.size() || p_[pos_] != ')') return ErrorAt(start, "unclosed '('");
    ++pos_;
    if (lookahead) {
      // Only the fallback matcher runs this pattern; keep the AST valid.
      Node empty;
      empty.kind = NodeKind::kEmpty;
      return std::optional<Node>(std::move(empty));
    }
    return std::optional<Node>(std::move(inner));
  }

  // At a backslash. Outside a class returns a node; inside a class callers
  // use EscapeSet.
  Result<std::optional<Node>> ParseEscape(bool in_class) {
    const size_t start = pos_;
    if (pos_ + 1 >= p_.size()) return ErrorAt(start, "trailing '\\'");
    const char e = p_[pos_ + 1];
    pos_ += 2;
    if (!in_class && e >= '1' && e <= '9') {
      needs_fallback_ = true;
      Node empty;
      empty.kind = NodeKind::kEmpty;
      return std::optional<Node>(std::move(empty));
    }
    if (!in_class && (e == 'b' || e == 'B')) {
      Node node;
      node.kind = e == 'b' ? NodeKind::kWordBoundary : NodeKind::kNotWordBoundary;
      return std::optional<Node>(std::move(node));
    }
    if (!in_class && (e == 'A' || e == 'Z' || e == 'z')) {
      Node node;
      node.kind = e == 'A' ? NodeKind::kAssertBegin : NodeKind::kAssertEnd;
      return std::optional<Node>(std::move(node));
    }
    std::optional<ByteSet> set = EscapeSet(e);
    if (set.has_value()) return std::optional<Node>(Class(*set));
    if (e == 'x') {
      if (pos_ + 2 > p_.size() || !IsHex(p_[pos_]) || !IsHex(p_[pos_ + 1])) {
        return ErrorAt(start, "'\\x' needs two hex digits");
      }
      const unsigned char value =
          static_cast<unsigned char>(HexValue(p_[pos_]) * 16 + HexValue(p_[pos_ + 1]));
      pos_ += 2;
      return std::optional<Node>(Byte(value));
    }
    const std::optional<unsigned char> byte = EscapeByte(e);
    if (!byte.has_value()) {
      return ErrorAt(start, std::string("unsupported escape '\\") + e + "'");
    }
    return std::optional<Node>(Byte(*byte));
  }

  static bool IsHex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }
  static int HexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return c - 'A' + 10;
  }

  static std::optional<ByteSet> EscapeSet(char e) {
    switch (e) {
      case 'd': return DigitSet();
      case 'D': return Negate(DigitSet());
      case 'w': return WordSet();
      case 'W': return Negate(WordSet());
      case 's': return WhitespaceSet();
      case 'S': return Negate(WhitespaceSet());
      default: return std::nullopt;
    }
  }

  static std::optional<unsigned char> EscapeByte(char e) {
    switch (e) {
      case 't': return static_cast<unsigned char>('\t');
      case 'n': return static_cast<unsigned char>('\n');
      case 'r': return static_cast<unsigned char>('\r');
      case 'f': return static_cast<unsigned char>('\f');
      case 'v': return static_cast<unsigned char>('\v');
      case '0': return static_cast<unsigned char>('\0');
      default: break;
    }
    const unsigned char u = static_cast<unsigned char>(e);
    // Escaped punctuation (and any non-alphanumeric byte) is itself.
    if (!IsWordByte(u) || e == '_') return u;
    return std::nullopt;
  }

  Result<ByteSet> ParseClass() {
    const size_t start = pos_;
    ++pos_;
    bool negate = false;
    if (pos_ < p_.size() && p_[pos_] == '^') {
      negate = true;
      ++pos_;
    }
    ByteSet set{};
    bool first = true;
    while (true) {
      if (pos_ >= p_.size()) return ErrorAt(start, "unclosed '['");
      if (p_[pos_] == ']' && !first) {
        ++pos_;
        break;
      }
      first = false;
      // One class element: a byte, an escape, or a range.
      const size_t elem_start = pos_;
      std::optional<unsigned char> lo;
      if (p_[pos_] == '\\') {
        if (pos_ + 1 >= p_.size()) return ErrorAt(pos_, "trailing '\\'");
        const char e = p_[pos_ + 1];
        std::optional<ByteSet> esc = EscapeSet(e);
        if (esc.has_value()) {
          UnionInto(&set, *esc);
          pos_ += 2;
          continue;
        }
        lo = e == 'b' ? std::optional<unsigned char>('\b') : EscapeByte(e);
        if (!lo.has_value()) {
          return ErrorAt(pos_, std::string("unsupported escape '\\") + e + "'");
        }
        pos_ += 2;
      } else {
        lo = static_cast<unsigned char>(p_[pos_]);
        ++pos_;
      }
      if (pos_ + 1 < p_.size() && p_[pos_] == '-' && p_[pos_ + 1] != ']') {
        ++pos_;
        unsigned char hi = 0;
        if (p_[pos_] == '\\') {
          if (pos_ + 1 >= p_.size()) return ErrorAt(pos_, "trailing '\\'");
          std::optional<unsigned char> b = EscapeByte(p_[pos_ + 1]);
          if (!b.has_value()) return ErrorAt(pos_, "bad range end in '[...]'");
          hi = *b;
          pos_ += 2;
        } else {
          hi = static_cast<unsigned char>(p_[pos_]);
          ++pos_;
        }
        if (hi < *lo) return ErrorAt(elem_start, "bad range in '[...]'");
        for (unsigned v = *lo; v <= hi; ++v) set[v] = true;
      } else {
        set[*lo] = true;
      }
    }
    return negate ? Negate(set) : set;
  }

  std::string_view p_;
  size_t pos_ = 0;
  std::vector<std::string> fields_;
  bool needs_fallback_ = false;
};

// ---------------------------------------------------------------- program

enum class Op : unsigned char {
  kLiteral,      // bytes literals_[arg .. arg+len)
  kClass,        // one byte in sets_[arg]
  kClassRepeat,  // sets_[arg] repeated min..max, greedy or lazy
  kSplit,        // try x, then y
  kJump,         // to x
  kSave,         // slots[arg] = pos
  kLazyAny,      // a field body: any bytes, shortest first; hint sets_[arg]
  kAssertBegin,
  kAssertEnd,
  kWordBoundary,
  kNotWordBoundary,
  kMatch,
};

struct Inst {
  Op op = Op::kMatch;
  bool greedy = true;
  // kLazyAny: the continuation may match at end of line / hint is one byte.
  bool can_end = false;
  bool single_byte = false;
  unsigned char byte = 0;
  uint32_t arg = 0;
  uint32_t len = 0;
  uint32_t min = 0;
  uint32_t max = 0;
  uint32_t x = 0;
  uint32_t y = 0;
};

class Compiler {
 public:
  Compiler(std::vector<Inst>* prog, std::string* literals, std::vector<ByteSet>* sets)
      : prog_(prog), literals_(literals), sets_(sets) {}

  Status Emit(const Node& node) {
    if (prog_->size() > kMaxProgramSize) {
      return Status::InvalidArgument("line format: pattern too large after expanding repetitions");
    }
    switch (node.kind) {
      case NodeKind::kEmpty:
        return Status::Ok();
      case NodeKind::kLiteral: {
        // Merge with a directly preceding literal instruction.
        if (!prog_->empty() && prog_->back().op == Op::kLiteral &&
            prog_->size() == last_literal_end_) {
          literals_->push_back(static_cast<char>(node.byte));
          ++prog_->back().len;
          return Status::Ok();
        }
        Inst inst;
        inst.op = Op::kLiteral;
        inst.arg = static_cast<uint32_t>(literals_->size());
        inst.len = 1;
        literals_->push_back(static_cast<char>(node.byte));
        prog_->push_back(inst);
        last_literal_end_ = prog_->size();
        return Status::Ok();
      }
      case NodeKind::kClass: {
        Inst inst;
        inst.op = Op::kClass;
        inst.arg = AddSet(node.set);
        prog_->push_back(inst);
        return Status::Ok();
      }
      case NodeKind::kConcat:
        for (const Node& child : node.children) FL_RETURN_IF_ERROR(Emit(child));
        return Status::Ok();
      case NodeKind::kAlternate: {
        std::vector<size_t> jumps;
        for (size_t i = 0; i < node.children.size(); ++i) {
          size_t split = 0;
          const bool last = i + 1 == node.children.size();
          if (!last) {
            split = Push(Op::kSplit);
            (*prog_)[split].x = Here();
          }
          FL_RETURN_IF_ERROR(Emit(node.children[i]));
          if (!last) {
            jumps.push_back(Push(Op::kJump));
            (*prog_)[split].y = Here();
          }
        }
        for (size_t j : jumps) (*prog_)[j].x = Here();
        return Status::Ok();
      }
      case NodeKind::kRepeat:
        return EmitRepeat(node);
      case NodeKind::kField: {
        Inst save;
        save.op = Op::kSave;
        save.arg = 2 * node.field;
        prog_->push_back(save);
        Inst any;
        any.op = Op::kLazyAny;
        prog_->push_back(any);
        save.arg = 2 * node.field + 1;
        prog_->push_back(save);
        return Status::Ok();
      }
      case NodeKind::kAssertBegin:
      case NodeKind::kAssertEnd:
      case NodeKind::kWordBoundary:
      case NodeKind::kNotWordBoundary:
        Push(AssertOp(node.kind));
        return Status::Ok();
    }
    return Status::Internal("line format: unknown node");
  }

 private:
  // A position taken as a jump target: later literals must not merge into
  // the instruction before it.
  uint32_t Here() {
    last_literal_end_ = std::numeric_limits<size_t>::max();
    return static_cast<uint32_t>(prog_->size());
  }
  size_t Push(Op op) {
    Inst inst;
    inst.op = op;
    prog_->push_back(inst);
    return prog_->size() - 1;
  }
  static Op AssertOp(NodeKind kind) {
    switch (kind) {
      case NodeKind::kAssertBegin: return Op::kAssertBegin;
      case NodeKind::kAssertEnd: return Op::kAssertEnd;
      case NodeKind::kWordBoundary: return Op::kWordBoundary;
      default: return Op::kNotWordBoundary;
    }
  }
  uint32_t AddSet(const ByteSet& set) {
    sets_->push_back(set);
    return static_cast<uint32_t>(sets_->size() - 1);
  }

  Status EmitRepeat(const Node& node) {
    const Node& child = node.children[0];
    if (child.kind == NodeKind::kClass || child.kind == NodeKind::kLiteral) {
      ByteSet set{};
      if (child.kind == NodeKind::kClass) {
        set = child.set;
      } else {
        set[child.byte] = true;
      }
      Inst inst;
      inst.op = Op::kClassRepeat;
      inst.arg = AddSet(set);
      inst.min = node.min;
      inst.max = node.max;
      inst.greedy = node.greedy;
      prog_->push_back(inst);
      return Status::Ok();
    }
    for (uint32_t i = 0; i < node.min; ++i) FL_RETURN_IF_ERROR(Emit(child));
    if (node.max == kInfinite) {
      const size_t split = Push(Op::kSplit);
      const uint32_t body = Here();
      FL_RETURN_IF_ERROR(Emit(child));
      const size_t jump = Push(Op::kJump);
      (*prog_)[jump].x = static_cast<uint32_t>(split);
      SetSplit(split, body, Here(), node.greedy);
      return Status::Ok();
    }
    std::vector<size_t> splits;
    for (uint32_t i = node.min; i < node.max; ++i) {
      splits.push_back(Push(Op::kSplit));
      (*prog_)[splits.back()].x = Here();
      FL_RETURN_IF_ERROR(Emit(child));
    }
    for (size_t split : splits) {
      SetSplit(split, (*prog_)[split].x, Here(), node.greedy);
    }
    return Status::Ok();
  }

  void SetSplit(size_t split, uint32_t body, uint32_t exit, bool greedy) {
    (*prog_)[split].x = greedy ? body : exit;
    (*prog_)[split].y = greedy ? exit : body;
  }

  std::vector<Inst>* prog_;
  std::string* literals_;
  std::vector<ByteSet>* sets_;
  // prog_->size() right after the last literal instruction was emitted, so
  // a literal is only merged into its immediate predecessor.
  size_t last_literal_end_ = 0;
};

// Translation to ECMAScript for the std::regex fallback.
Result<std::string> TranslateToEcmaScript(std::string_view p) {
  std::string out;
  std::vector<uint32_t> user_group_to_ecma;  // user group k (from 1) -> ECMA group
  uint32_t ecma_groups = 0;
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char e = p[i + 1];
      if (!in_class && e >= '1' && e <= '9') {
        const size_t k = static_cast<size_t>(e - '0');
        if (k > user_group_to_ecma.size()) {
          return ErrorAt(i, "backreference to a group that is not before it");
        }
        out += '\\';
        out += std::to_string(user_group_to_ecma[k - 1]);
        out += "(?:)";  // keep a following digit from joining the number
      } else {
        out += c;
        out += e;
      }
      ++i;
      continue;
    }
    if (in_class) {
      out += c;
      if (c == ']') in_class = false;
      continue;
    }
    if (c == '[') {
      in_class = true;
      out += c;
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];
      continue;
    }
    if (c == ' ') {
      while (i + 1 < p.size() && p[i + 1] == ' ') ++i;
      out += "\\s+";
      continue;
    }
    if (c == '<') {
      const size_t close = p.find('>', i);
      out += "([\\s\\S]*?)";
      ++ecma_groups;
      i = close;
      continue;
    }
    if (c == '(') {
      if (i + 1 >= p.size() || p[i + 1] != '?') {
        ++ecma_groups;
        user_group_to_ecma.push_back(ecma_groups);
      }
    }
    out += c;
  }
  return out;
}

}  // namespace

struct LineFormat::Impl {
  std::string pattern;
  std::vector<std::string> fields;
  std::vector<Inst> prog;
  std::string literals;
  std::vector<ByteSet> sets;
  // Set when the pattern needs the std::regex fallback.
  std::optional<std::regex> fallback;
  // ECMA capture group of each field (fallback only).
  std::vector<size_t> fallback_groups;

  void ComputeHints();
  enum class Outcome : unsigned char { kMatch, kNoMatch, kBudgetExhausted };
  Outcome Run(std::string_view line, std::vector<size_t>* slots, bool memo,
              size_t budget) const;
  bool MatchFallback(std::string_view line, std::vector<std::string_view>* values) const;
};

namespace {

// First bytes that a match starting at `pc` can consume, and whether it can
// reach kMatch without consuming anything.
void FirstSet(const std::vector<Inst>& prog, const std::vector<ByteSet>& sets,
              const std::string& literals, uint32_t pc, std::vector<bool>* seen,
              ByteSet* first, bool* can_end) {
  while (pc < prog.size()) {
    if ((*seen)[pc]) return;
    (*seen)[pc] = true;
    const Inst& inst = prog[pc];
    switch (inst.op) {
      case Op::kLiteral:
        (*first)[static_cast<unsigned char>(literals[inst.arg])] = true;
        return;
      case Op::kClass:
        UnionInto(first, sets[inst.arg]);
        return;
      case Op::kClassRepeat:
        UnionInto(first, sets[inst.arg]);
        if (inst.min > 0) return;
        ++pc;
        break;
      case Op::kLazyAny:
        first->fill(true);
        ++pc;
        break;
      case Op::kSplit:
        FirstSet(prog, sets, literals, inst.x, seen, first, can_end);
        pc = inst.y;
        break;
      case Op::kJump:
        pc = inst.x;
        break;
      case Op::kSave:
      case Op::kAssertBegin:
      case Op::kAssertEnd:
      case Op::kWordBoundary:
      case Op::kNotWordBoundary:
        ++pc;
        break;
      case Op::kMatch:
        *can_end = true;
        return;
    }
  }
}

}  // namespace

void LineFormat::Impl::ComputeHints() {
  for (size_t pc = 0; pc < prog.size(); ++pc) {
    if (prog[pc].op != Op::kLazyAny) continue;
    ByteSet first{};
    bool can_end = false;
    std::vector<bool> seen(prog.size(), false);
    FirstSet(prog, sets, literals, static_cast<uint32_t>(pc + 1), &seen, &first,
             &can_end);
    int count = 0;
    unsigned char only = 0;
    for (int b = 0; b < 256; ++b) {
      if (first[b]) {
        ++count;
        only = static_cast<unsigned char>(b);
      }
    }
    prog[pc].arg = static_cast<uint32_t>(sets.size());
    sets.push_back(first);
    prog[pc].can_end = can_end;
    prog[pc].single_byte = count == 1;
    prog[pc].byte = only;
    prog[pc].len = static_cast<uint32_t>(count);
  }
}

namespace {

enum class FrameKind : unsigned char { kThread, kRestore, kGreedyRepeat, kLazyRepeat };

struct Frame {
  FrameKind kind;
  uint32_t pc;
  size_t pos;
  size_t count;  // kRestore: old slot value; repeats: current count
};

struct Scratch {
  std::vector<Frame> stack;
  std::vector<size_t> slots;
  std::vector<uint64_t> visited;
};

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

}  // namespace

LineFormat::Impl::Outcome LineFormat::Impl::Run(std::string_view line, std::vector<size_t>* slots,
                           bool memo, size_t budget) const {
  const unsigned char* data = reinterpret_cast<const unsigned char*>(line.data());
  const size_t n = line.size();
  Scratch& scratch = ThreadScratch();
  std::vector<Frame>& stack = scratch.stack;
  stack.clear();
  std::vector<uint64_t>& visited = scratch.visited;
  const size_t stride = n + 1;
  if (memo) {
    visited.assign((prog.size() * stride + 63) / 64, 0);
  }
  // Returns true if (pc, pos) was already explored (memo mode only).
  auto seen = [&](uint32_t pc, size_t pos) {
    const size_t bit = pc * stride + pos;
    uint64_t& word = visited[bit / 64];
    const uint64_t mask = uint64_t{1} << (bit % 64);
    if (word & mask) return true;
    word |= mask;
    return false;
  };

  size_t work = 0;
  uint32_t pc = 0;
  size_t pos = 0;
  bool running = true;  // false: current thread failed, pop the stack
  while (true) {
    if (!running) {
      // Backtrack.
      while (true) {
        if (stack.empty()) return Outcome::kNoMatch;
        Frame frame = stack.back();
        stack.pop_back();
        if (frame.kind == FrameKind::kRestore) {
          (*slots)[frame.pc] = frame.count;
          continue;
        }
        if (frame.kind == FrameKind::kThread) {
          pc = frame.pc;
          pos = frame.pos;
          break;
        }
        const Inst& inst = prog[frame.pc];
        const ByteSet& set = sets[inst.arg];
        if (frame.kind == FrameKind::kGreedyRepeat) {
          // Next try: one fewer.
          const size_t count = frame.count - 1;
          if (count > inst.min) {
            stack.push_back({FrameKind::kGreedyRepeat, frame.pc, frame.pos, count});
          }
          pc = frame.pc + 1;
          pos = frame.pos + count;
          break;
        }
        // kLazyRepeat: one more.
        const size_t at = frame.pos + frame.count;
        if (frame.count >= inst.max || at >= n || !set[data[at]]) continue;
        stack.push_back({FrameKind::kLazyRepeat, frame.pc, frame.pos, frame.count + 1});
        pc = frame.pc + 1;
        pos = at + 1;
        break;
      }
      running = true;
    }
    if (++work > budget) return Outcome::kBudgetExhausted;
    if (memo && seen(pc, pos)) {
      running = false;
      continue;
    }
    const Inst& inst = prog[pc];
    switch (inst.op) {
      case Op::kLiteral:
        if (n - pos < inst.len ||
            std::memcmp(data + pos, literals.data() + inst.arg, inst.len) != 0) {
          running = false;
        } else {
          pos += inst.len;
          ++pc;
        }
        break;
      case Op::kClass:
        if (pos < n && sets[inst.arg][data[pos]]) {
          ++pos;
          ++pc;
        } else {
          running = false;
        }
        break;
      case Op::kClassRepeat: {
        const ByteSet& set = sets[inst.arg];
        size_t count = 0;
        if (inst.greedy) {
          const size_t limit = inst.max == kInfinite ? n - pos
                                                     : std::min<size_t>(inst.max, n - pos);
          while (count < limit && set[data[pos + count]]) ++count;
          work += count;
          if (count < inst.min) {
            running = false;
            break;
          }
          if (count > inst.min) {
            stack.push_back({FrameKind::kGreedyRepeat, pc, pos, count});
          }
        } else {
          while (count < inst.min && pos + count < n && set[data[pos + count]]) ++count;
          if (count < inst.min) {
            running = false;
            break;
          }
          stack.push_back({FrameKind::kLazyRepeat, pc, pos, count});
        }
        pos += count;
        ++pc;
        break;
      }
      case Op::kSplit:
        stack.push_back({FrameKind::kThread, inst.y, pos, 0});
        pc = inst.x;
        break;
      case Op::kJump:
        pc = inst.x;
        break;
      case Op::kSave:
        stack.push_back({FrameKind::kRestore, inst.arg, 0, (*slots)[inst.arg]});
        (*slots)[inst.arg] = pos;
        ++pc;
        break;
      case Op::kLazyAny: {
        // Next position >= pos where the continuation can start.
        const ByteSet& hint = sets[inst.arg];
        size_t q = pos;
        if (memo) {
          while (q < n && !hint[data[q]]) {
            ++q;
            if (seen(pc, q)) {
              q = n + 1;
              break;
            }
          }
          if (q == n && !inst.can_end) q = n + 1;
        } else if (inst.len == 0) {
          q = inst.can_end ? n : n + 1;
        } else if (inst.single_byte) {
          const void* hit = pos < n ? std::memchr(data + pos, inst.byte, n - pos) : nullptr;
          if (hit != nullptr) {
            q = static_cast<size_t>(static_cast<const unsigned char*>(hit) - data);
          } else {
            q = inst.can_end ? n : n + 1;
          }
        } else {
          while (q < n && !hint[data[q]]) ++q;
          if (q == n && !inst.can_end) q = n + 1;
        }
        // Scanning counts against the budget too (16 bytes a unit), or a
        // hopeless search repeated for every earlier split would go unnoticed.
        work += (std::min(q, n) - pos) / 16;
        if (q > n) {
          running = false;
          break;
        }
        if (q < n) stack.push_back({FrameKind::kThread, pc, q + 1, 0});
        pos = q;
        ++pc;
        break;
      }
      case Op::kAssertBegin:
        if (pos == 0) {
          ++pc;
        } else {
          running = false;
        }
        break;
      case Op::kAssertEnd:
        if (pos == n) {
          ++pc;
        } else {
          running = false;
        }
        break;
      case Op::kWordBoundary:
      case Op::kNotWordBoundary: {
        const bool before = pos > 0 && IsWordByte(data[pos - 1]);
        const bool after = pos < n && IsWordByte(data[pos]);
        if ((before != after) == (inst.op == Op::kWordBoundary)) {
          ++pc;
        } else {
          running = false;
        }
        break;
      }
      case Op::kMatch:
        if (pos == n) return Outcome::kMatch;
        running = false;
        break;
    }
  }
}

bool LineFormat::Impl::MatchFallback(std::string_view line,
                                     std::vector<std::string_view>* values) const {
  std::match_results<std::string_view::const_iterator> m;
  bool matched = false;
  try {
    matched = std::regex_match(line.begin(), line.end(), m, *fallback);
  } catch (const std::exception&) {
    // std::regex reports pathological input (error_complexity, error_stack)
    // by throwing; treat it as no match.
    return false;
  }
  if (!matched) return false;
  values->assign(fields.size(), std::string_view());
  for (size_t i = 0; i < fields.size(); ++i) {
    const auto& sub = m[fallback_groups[i]];
    if (sub.matched) {
      (*values)[i] = line.substr(static_cast<size_t>(sub.first - line.begin()),
                                 static_cast<size_t>(sub.length()));
    }
  }
  return true;
}

LineFormat::LineFormat() : impl_(std::make_unique<Impl>()) {}
LineFormat::LineFormat(LineFormat&&) noexcept = default;
LineFormat& LineFormat::operator=(LineFormat&&) noexcept = default;
LineFormat::~LineFormat() = default;

Result<LineFormat> LineFormat::Compile(std::string_view pattern) {
  Parser parser(pattern);
  FL_ASSIGN_OR_RETURN(Node root, parser.Parse());
  if (parser.fields().empty()) {
    return Status::InvalidArgument("line format: pattern has no <Field>");
  }
  LineFormat format;
  Impl& impl = *format.impl_;
  impl.pattern = std::string(pattern);
  impl.fields = std::move(parser.fields());
  if (parser.needs_fallback()) {
    FL_ASSIGN_OR_RETURN(std::string ecma, TranslateToEcmaScript(pattern));
    try {
      impl.fallback.emplace(ecma, std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error& e) {
      return Status::InvalidArgument("line format: std::regex rejected '" + ecma +
                                     "': " + e.what());
    }
    // Field k is the (k+1)-th '<' group in order; recompute its ECMA index.
    size_t group = 0;
    bool in_class = false;
    for (size_t i = 0; i < pattern.size(); ++i) {
      const char c = pattern[i];
      if (c == '\\') {
        ++i;
      } else if (in_class) {
        if (c == ']') in_class = false;
      } else if (c == '[') {
        in_class = true;
        if (i + 1 < pattern.size() && pattern[i + 1] == '^') ++i;
        if (i + 1 < pattern.size() && pattern[i + 1] == ']') ++i;
      } else if (c == '<') {
        impl.fallback_groups.push_back(++group);
        i = pattern.find('>', i);
      } else if (c == '(' && (i + 1 >= pattern.size() || pattern[i + 1] != '?')) {
        ++group;
      }
    }
    return format;
  }
  Compiler compiler(&impl.prog, &impl.literals, &impl.sets);
  FL_RETURN_IF_ERROR(compiler.Emit(root));
  if (impl.prog.size() > kMaxProgramSize) {
    return Status::InvalidArgument("line format: pattern too large after expanding repetitions");
  }
  Inst match;
  match.op = Op::kMatch;
  impl.prog.push_back(match);
  impl.ComputeHints();
  return format;
}

const std::vector<std::string>& LineFormat::fields() const { return impl_->fields; }

const std::string& LineFormat::pattern() const { return impl_->pattern; }

bool LineFormat::Match(std::string_view line,
                       std::vector<std::string_view>* values) const {
  const Impl& impl = *impl_;
  if (impl.fallback.has_value()) return impl.MatchFallback(line, values);
  std::vector<size_t>& slots = ThreadScratch().slots;
  slots.assign(2 * impl.fields.size(), std::string_view::npos);
  // Plenty for any sane pattern on a real line; beyond it, redo with the
  // visited bitmap so the work stays bounded by program x line size.
  const size_t budget = 8 * line.size() + 64 * impl.prog.size() + 1024;
  Impl::Outcome outcome = impl.Run(line, &slots, /*memo=*/false, budget);
  // The visited bitmap has prog x (line + 1) bits; past kMaxMemoBits (a huge
  // pattern on a huge line) the line is reported as not matching rather than
  // risking exponential backtracking or a giant allocation.
  if (outcome == Impl::Outcome::kBudgetExhausted &&
      impl.prog.size() * (line.size() + 1) <= kMaxMemoBits) {
    slots.assign(2 * impl.fields.size(), std::string_view::npos);
    outcome = impl.Run(line, &slots, /*memo=*/true, std::numeric_limits<size_t>::max());
  }
  if (outcome != Impl::Outcome::kMatch) return false;
  values->resize(impl.fields.size());
  for (size_t i = 0; i < impl.fields.size(); ++i) {
    const size_t begin = slots[2 * i];
    const size_t end = slots[2 * i + 1];
    (*values)[i] = begin == std::string_view::npos || end == std::string_view::npos
                       ? std::string_view()
                       : line.substr(begin, end - begin);
  }
  return true;
}

}  // namespace faultline::ingest
