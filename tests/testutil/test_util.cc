#include "tests/testutil/test_util.h"

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
  return std::filesystem::current_path();
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

}  // namespace faultline::testing
