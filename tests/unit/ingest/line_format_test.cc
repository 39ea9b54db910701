#include "ingest/line_format.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "tests/testutil/test_util.h"

namespace faultline::ingest {
namespace {

LineFormat MustCompile(std::string_view pattern) {
  Result<LineFormat> format = LineFormat::Compile(pattern);
  EXPECT_TRUE(format.ok()) << pattern << ": " << format.status().ToString();
  if (!format.ok()) return std::move(LineFormat::Compile("<Content>").value());
  return std::move(format).value();
}

// Matches and returns the values, or {"<no match>"}.
std::vector<std::string> MatchValues(const LineFormat& format, std::string_view line) {
  std::vector<std::string_view> values;
  if (!format.Match(line, &values)) return {"<no match>"};
  EXPECT_EQ(values.size(), format.fields().size());
  return std::vector<std::string>(values.begin(), values.end());
}

using Values = std::vector<std::string>;

std::string CompileError(std::string_view pattern) {
  Result<LineFormat> format = LineFormat::Compile(pattern);
  EXPECT_FALSE(format.ok()) << pattern;
  if (format.ok()) return "";
  EXPECT_EQ(format.status().code(), StatusCode::kInvalidArgument);
  return format.status().message();
}

TEST(LineFormatTest, FieldsInOrderAndPattern) {
  LineFormat format = MustCompile("<Date> <Time> <Level> <Component>: <Content>");
  EXPECT_EQ(format.fields(),
            (std::vector<std::string>{"Date", "Time", "Level", "Component", "Content"}));
  EXPECT_EQ(format.pattern(), "<Date> <Time> <Level> <Component>: <Content>");
}

TEST(LineFormatTest, SpaceMatchesAnyWhitespaceRun) {
  LineFormat format = MustCompile("<A> <B> <Content>");
  EXPECT_EQ(MatchValues(format, "x y rest of it"), (Values{"x", "y", "rest of it"}));
  EXPECT_EQ(MatchValues(format, "x \t  y\trest"), (Values{"x", "y", "rest"}));
  // Several pattern spaces are still one run of one or more.
  LineFormat two = MustCompile("<A>  <Content>");
  EXPECT_EQ(MatchValues(two, "a b"), (Values{"a", "b"}));
  EXPECT_EQ(MatchValues(format, "nospace"), (Values{"<no match>"}));
}

TEST(LineFormatTest, FieldsAreNonGreedyLastFieldTakesRest) {
  LineFormat format = MustCompile("<Component>: <Content>");
  EXPECT_EQ(MatchValues(format, "a: b: c"), (Values{"a", "b: c"}));
  // Non-greedy but extends when the rest would not match otherwise.
  LineFormat tail = MustCompile("<A>:<B>;");
  EXPECT_EQ(MatchValues(tail, "x:y:z;"), (Values{"x", "y:z"}));
  EXPECT_EQ(MatchValues(tail, "x:y;z;"), (Values{"x", "y;z"}));
  // A field may be empty.
  EXPECT_EQ(MatchValues(format, ": msg"), (Values{"", "msg"}));
  EXPECT_EQ(MatchValues(format, "a: "), (Values{"a", ""}));
  EXPECT_EQ(MatchValues(format, "a:"), (Values{"<no match>"}));
  LineFormat last = MustCompile("<Level>: <Content>");
  EXPECT_EQ(MatchValues(last, "INFO: x"), (Values{"INFO", "x"}));
}

TEST(LineFormatTest, WholeLineIsAnchored) {
  LineFormat format = MustCompile("[<Level>] <Content>");
  EXPECT_EQ(MatchValues(format, "x[INFO] m"), (Values{"<no match>"}));
  LineFormat fixed = MustCompile("<A>-end");
  EXPECT_EQ(MatchValues(fixed, "a-end"), (Values{"a"}));
  EXPECT_EQ(MatchValues(fixed, "a-end!"), (Values{"<no match>"}));
  EXPECT_EQ(MatchValues(fixed, "a-end-end"), (Values{"a-end"}));
}

TEST(LineFormatTest, EscapedBrackets) {
  LineFormat format = MustCompile("\\[<Time>\\] <Program> - <Content>");
  EXPECT_EQ(MatchValues(format, "[10.30 16:49:06] chrome.exe - open through proxy"),
            (Values{"10.30 16:49:06", "chrome.exe", "open through proxy"}));
  LineFormat parens = MustCompile("<A>\\(<B>\\)\\.<Content>");
  EXPECT_EQ(MatchValues(parens, "f(x).y"), (Values{"f", "x", "y"}));
}

TEST(LineFormatTest, OptionalGroupPresentAndAbsent) {
  LineFormat format = MustCompile("<Month> <Date> <Time> <Level> <Component>(\\[<PID>\\])?: <Content>");
  EXPECT_EQ(MatchValues(format, "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: auth failure"),
            (Values{"Jun", "14", "15:16:01", "combo", "sshd(pam_unix)", "19939", "auth failure"}));
  EXPECT_EQ(MatchValues(format, "Jun 14 15:16:01 combo kernel: boot ok"),
            (Values{"Jun", "14", "15:16:01", "combo", "kernel", "", "boot ok"}));
}

TEST(LineFormatTest, CharacterClassesAndQuantifiers) {
  LineFormat digits = MustCompile("[0-9]+ <Content>");
  EXPECT_EQ(MatchValues(digits, "123 x"), (Values{"x"}));
  EXPECT_EQ(MatchValues(digits, "12a x"), (Values{"<no match>"}));
  LineFormat negated = MustCompile("[^:]*:<Content>");
  EXPECT_EQ(MatchValues(negated, "abc:d:e"), (Values{"d:e"}));
  LineFormat dot = MustCompile("a.c<Content>");
  EXPECT_EQ(MatchValues(dot, "abcX"), (Values{"X"}));
  LineFormat star = MustCompile("ab*c<Content>");
  EXPECT_EQ(MatchValues(star, "acX"), (Values{"X"}));
  EXPECT_EQ(MatchValues(star, "abbbcX"), (Values{"X"}));
  LineFormat question = MustCompile("colou?r=<Content>");
  EXPECT_EQ(MatchValues(question, "color=1"), (Values{"1"}));
  EXPECT_EQ(MatchValues(question, "colour=2"), (Values{"2"}));
  LineFormat escapes = MustCompile("\\d{4}-\\d\\d\\s\\w+ <Content>");
  EXPECT_EQ(MatchValues(escapes, "2024-01 ab_c rest"), (Values{"rest"}));
  EXPECT_EQ(MatchValues(escapes, "202-01 ab rest"), (Values{"<no match>"}));
  LineFormat class_escape = MustCompile("[\\]\\-a]+<Content>");
  EXPECT_EQ(MatchValues(class_escape, "]-a]xyz"), (Values{"xyz"}));
  LineFormat lazy = MustCompile("(a+?)<Content>");
  EXPECT_EQ(MatchValues(lazy, "aaab"), (Values{"aab"}));
}

TEST(LineFormatTest, AlternationInsideGroups) {
  LineFormat format = MustCompile("(INFO|WARN|ERROR) <Component>: <Content>");
  EXPECT_EQ(MatchValues(format, "WARN disk: full"), (Values{"disk", "full"}));
  EXPECT_EQ(MatchValues(format, "DEBUG disk: full"), (Values{"<no match>"}));
  LineFormat with_fields = MustCompile("(<Pid>:|pid=<Tid>) <Content>");
  EXPECT_EQ(MatchValues(with_fields, "12: x"), (Values{"12", "", "x"}));
  EXPECT_EQ(MatchValues(with_fields, "pid=7 x"), (Values{"", "7", "x"}));
  LineFormat non_capturing = MustCompile("(?:ab)+<Content>");
  EXPECT_EQ(MatchValues(non_capturing, "ababX"), (Values{"X"}));
  // Alternation followed by a literal (jump targets must not merge literals).
  LineFormat then_literal = MustCompile("(a|b)c<Content>");
  EXPECT_EQ(MatchValues(then_literal, "acX"), (Values{"X"}));
  EXPECT_EQ(MatchValues(then_literal, "bcX"), (Values{"X"}));
}

TEST(LineFormatTest, AnchorsAndWordBoundaries) {
  LineFormat anchored = MustCompile("^<A>\\b=<Content>$");
  EXPECT_EQ(MatchValues(anchored, "key=v"), (Values{"key", "v"}));
  EXPECT_EQ(MatchValues(anchored, "key =v"), (Values{"<no match>"}));
  LineFormat inner = MustCompile("<A>\\Bx<Content>");
  EXPECT_EQ(MatchValues(inner, "axb x"), (Values{"a", "b x"}));
}

TEST(LineFormatTest, FallbackForLookaheadAndBackreference) {
  LineFormat look = MustCompile("(?!DEBUG)<Level> <Content>");
  EXPECT_EQ(MatchValues(look, "INFO x y"), (Values{"INFO", "x y"}));
  EXPECT_EQ(MatchValues(look, "DEBUG x"), (Values{"<no match>"}));
  LineFormat backref = MustCompile("(['\"])<Quoted>\\1 <Content>");
  EXPECT_EQ(MatchValues(backref, "'a b' rest"), (Values{"a b", "rest"}));
  EXPECT_EQ(MatchValues(backref, "'a b\" rest"), (Values{"<no match>"}));
}

TEST(LineFormatTest, CompileErrorsNameTheColumn) {
  EXPECT_EQ(CompileError("<Date> <Time <Content>"), "line format column 8: unclosed '<'");
  EXPECT_EQ(CompileError("<Date> <Time"), "line format column 8: unclosed '<'");
  EXPECT_EQ(CompileError("<A> <>"), "line format column 5: empty field name '<>'");
  EXPECT_EQ(CompileError("<A> <A>"), "line format column 5: duplicate field name 'A'");
  EXPECT_EQ(CompileError("<A>(x <B>"), "line format column 4: unclosed '('");
  EXPECT_EQ(CompileError("<A>x) <B>"), "line format column 5: unbalanced ')'");
  EXPECT_EQ(CompileError("<A> [abc <B>"), "line format column 5: unclosed '['");
  EXPECT_EQ(CompileError("*<A>"), "line format column 1: nothing to repeat before '*'");
  EXPECT_EQ(CompileError("<A>(+)"), "line format column 5: nothing to repeat before '+'");
  EXPECT_EQ(CompileError("<A>\\"), "line format column 4: trailing '\\'");
  EXPECT_EQ(CompileError("<A b>"), "line format column 3: invalid character in field name 'A b'");
  EXPECT_EQ(CompileError("<A>\\q"), "line format column 4: unsupported escape '\\q'");
  EXPECT_EQ(CompileError("(?<=x)<A>"), "line format column 1: lookbehind is not supported");
  EXPECT_FALSE(LineFormat::Compile("no fields").ok());
}

TEST(LineFormatTest, MoveKeepsTheFormat) {
  LineFormat format = MustCompile("<A>=<B>");
  LineFormat moved = std::move(format);
  EXPECT_EQ(MatchValues(moved, "k=v"), (Values{"k", "v"}));
}

TEST(LineFormatTest, LongLinesAreNotPathological) {
  const std::string words = [] {
    std::string s;
    while (s.size() < (1u << 20)) s += "word ";
    return s;
  }();
  LineFormat hdfs = MustCompile("<Date> <Time> <Pid> <Level> <Component>: <Content>");
  const auto start = std::chrono::steady_clock::now();
  // Matches, with a 1 MiB Content.
  std::vector<std::string_view> values;
  ASSERT_TRUE(hdfs.Match("081109 203615 148 INFO dfs.X: " + words, &values));
  EXPECT_EQ(values[5].size(), words.size());
  // No ':' anywhere: every split of the header is hopeless.
  EXPECT_FALSE(hdfs.Match(words, &values));
  // A ':' only at the very end, after a million words.
  EXPECT_FALSE(hdfs.Match(words + ":", &values));
  LineFormat nested = MustCompile("(<A> )*x<B>");
  EXPECT_FALSE(nested.Match(words.substr(0, 1 << 16), &values));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  // Generous bound for sanitizer builds on a shared machine.
  EXPECT_LT(std::chrono::duration_cast<std::chrono::seconds>(elapsed).count(), 20);
}

// ---------------------------------------------------------------- loghub

// RFC 4180: returns the fields of one record starting at *pos; advances *pos
// past the record's line break.
std::vector<std::string> ReadCsvRecord(const std::string& text, size_t* pos) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  size_t i = *pos;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          fields.back() += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c == '\n') {
      ++i;
      break;
    } else if (c != '\r') {
      fields.back() += c;
    }
  }
  *pos = i;
  return fields;
}

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

struct Dataset {
  const char* name;
  const char* pattern;
};

constexpr Dataset kDatasets[] = {
    {"HDFS", "<Date> <Time> <Pid> <Level> <Component>: <Content>"},
    {"Hadoop", "<Date> <Time> <Level> \\[<Process>\\] <Component>: <Content>"},
    {"Spark", "<Date> <Time> <Level> <Component>: <Content>"},
    {"Zookeeper", "<Date> <Time> - <Level>  \\[<Node>:<Component>@<Id>\\] - <Content>"},
    {"BGL",
     "<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> "
     "<Content>"},
    {"HPC", "<LogId> <Node> <Component> <State> <Time> <Flag> <Content>"},
    {"Linux", "<Month> <Date> <Time> <Level> <Component>(\\[<PID>\\])?: <Content>"},
    {"Proxifier", "\\[<Time>\\] <Program> - <Content>"},
};

class LoghubTest : public ::testing::TestWithParam<Dataset> {};

TEST_P(LoghubTest, EveryLineMatchesAndContentEqualsGroundTruth) {
  const std::filesystem::path shared = testing::SharedDataDir();
  if (shared.empty()) GTEST_SKIP() << "../shared/data not present";
  const Dataset& dataset = GetParam();
  const std::filesystem::path dir = shared / "loghub-2k" / dataset.name;
  const std::string log_path = (dir / (std::string(dataset.name) + "_2k.log")).string();
  const std::string csv_path =
      (dir / (std::string(dataset.name) + "_2k.log_structured.csv")).string();
  if (!std::filesystem::exists(log_path) || !std::filesystem::exists(csv_path)) {
    GTEST_SKIP() << "loghub-2k/" << dataset.name << " not present";
  }
  LineFormat format = MustCompile(dataset.pattern);
  size_t content_index = format.fields().size();
  for (size_t i = 0; i < format.fields().size(); ++i) {
    if (format.fields()[i] == "Content") content_index = i;
  }
  ASSERT_LT(content_index, format.fields().size());

  const std::string csv = testing::ReadFile(csv_path);
  size_t csv_pos = 0;
  const std::vector<std::string> header = ReadCsvRecord(csv, &csv_pos);
  size_t csv_content = header.size();
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i] == "Content") csv_content = i;
  }
  ASSERT_LT(csv_content, header.size());

  std::ifstream log(log_path);
  std::string line;
  size_t line_no = 0;
  size_t mismatches = 0;
  std::vector<std::string_view> values;
  while (std::getline(log, line)) {
    ++line_no;
    ASSERT_LT(csv_pos, csv.size()) << "CSV shorter than log at line " << line_no;
    const std::vector<std::string> record = ReadCsvRecord(csv, &csv_pos);
    ASSERT_LT(csv_content, record.size()) << "line " << line_no;
    // logpai strips each line before matching; the raw line must match too.
    ASSERT_TRUE(format.Match(line, &values)) << "line " << line_no << ": " << line;
    ASSERT_TRUE(format.Match(TrimRight(line), &values)) << "line " << line_no;
    if (TrimRight(values[content_index]) != TrimRight(record[csv_content])) {
      ++mismatches;
      ADD_FAILURE() << dataset.name << " line " << line_no << "\n  got:  "
                    << values[content_index] << "\n  want: " << record[csv_content];
      if (mismatches > 5) break;
    }
  }
  EXPECT_EQ(line_no, 2000u);
  EXPECT_EQ(mismatches, 0u);
}

INSTANTIATE_TEST_SUITE_P(Loghub2k, LoghubTest, ::testing::ValuesIn(kDatasets),
                         [](const ::testing::TestParamInfo<Dataset>& param_info) {
                           return std::string(param_info.param.name);
                         });

}  // namespace
}  // namespace faultline::ingest
