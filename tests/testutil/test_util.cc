#include "tests/testutil/test_util.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

namespace faultline::testing {

TempDir::TempDir() {
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto candidate = std::filesystem::temp_directory_path() /
                     ("faultline-test-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
    std::error_code ec;
    if (std::filesystem::create_directory(candidate, ec)) {
      path_ = candidate;
      return;
    }
  }
  ADD_FAILURE() << "cannot create a temp dir";
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

std::filesystem::path SourceDir() {
  if (const char* dir = std::getenv("FAULTLINE_SOURCE_DIR")) return dir;
  return FAULTLINE_DEFAULT_SOURCE_DIR;
}

std::filesystem::path SharedDataDir() {
  if (const char* dir = std::getenv("FAULTLINE_SHARED_DATA")) return dir;
  auto candidate = SourceDir() / ".." / "shared" / "data";
  std::error_code ec;
  if (std::filesystem::is_directory(candidate, ec)) return candidate;
  return {};
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  out << contents;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CommandResult RunCommand(const std::string& command) {
  TempDir dir;
  std::string out_path = dir.Sub("out");
  std::string err_path = dir.Sub("err");
  std::string full = "(" + command + ") >" + ShellQuote(out_path) + " 2>" + ShellQuote(err_path);
  int status = std::system(full.c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  return result;
}

std::string ShellQuote(const std::string& arg) {
  std::string out = "'";
  for (char c : arg) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += "'";
  return out;
}

std::string FaultlineBinary() {
  if (const char* path = std::getenv("FAULTLINE_BINARY")) return path;
  return FAULTLINE_DEFAULT_BINARY;
}

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // port 0: the kernel picks one
  socklen_t len = sizeof(addr);
  const bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  if (fd >= 0) ::close(fd);
  EXPECT_TRUE(ok) << "cannot find a free port";
  return ntohs(addr.sin_port);
}

std::vector<std::string> KcatConsume(const std::string& brokers, const std::string& topic,
                                     const std::string& format) {
  // A short fetch wait: with the default, a consumer at the end of a
  // partition of librdkafka's mock broker lags behind. The timeout keeps an
  // unreachable broker from hanging the test.
  CommandResult r = RunCommand("timeout 60 kcat -b " + ShellQuote(brokers) + " -C -t " + ShellQuote(topic) +
                               " -e -q -o beginning -X fetch.wait.max.ms=10 -f " +
                               ShellQuote(format));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return SplitLines(r.out);
}

std::vector<std::string> OutageLines() {
  std::vector<std::string> lines;
  const int64_t t0 = 1'767'225'600;  // 2026-01-01T00:00:00Z
  std::mt19937 rng(5);
  for (int s = 0; s < 40 * 60; ++s) {
    const bool failing = s >= 30 * 60;
    for (int k = 0; k < 5; ++k) {
      const int64_t ns = (t0 + s) * 1'000'000'000LL + k * 100'000'000LL;
      const std::string trace = std::to_string(s * 10 + k) + "abcdef0123456789abcdef";
      const std::string span = std::to_string(s * 10 + k);
      const bool error = failing ? rng() % 2 == 0 : rng() % 500 == 0;
      lines.push_back(R"({"ts_ns":)" + std::to_string(ns) +
                      R"(,"service":"gateway","level":"INFO","msg":"request )" +
                      std::to_string(k) + R"( routed","status":)" + (error ? "503" : "200") +
                      R"(,"trace_id":")" + trace + "\"}");
      lines.push_back(R"({"ts_ns":)" + std::to_string(ns + 1000) +
                      R"(,"service":"api","level":")" + (error ? "ERROR" : "INFO") +
                      R"(","msg":")" +
                      (error ? "upstream pool exhausted after 3 tries" : "served chat completion") +
                      R"(","trace_id":")" + trace + "\"}");
      lines.push_back(R"({"kind":"span","ts_ns":)" + std::to_string(ns) +
                      R"(,"service":"gateway","name":"route","trace_id":")" + trace +
                      R"(","span_id":"g)" + span + R"(","duration_us":5000})");
      lines.push_back(R"({"kind":"span","ts_ns":)" + std::to_string(ns + 1000) +
                      R"(,"service":"api","name":"complete","trace_id":")" + trace +
                      R"(","span_id":"a)" + span + R"(","parent_span_id":"g)" + span +
                      R"(","duration_us":)" + (error ? "90000" : "3000") + "}");
    }
  }
  return lines;
}

}  // namespace faultline::testing
