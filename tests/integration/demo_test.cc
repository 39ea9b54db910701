// `make demo`'s script end to end, shortened (8 minutes of event time at
// 40x, no million-line speed step): the embedded broker, serve, the
// simulated GPU failure streamed live, the incident it opened, the
// explanation, the status page and the HTML report; it must name the
// truth's root cause. Then the HTML report in headless Chromium, when
// Chromium is installed (.ci/run installs it): the chain and the causes are
// on the rendered page, and a screenshot is saved.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "tests/testutil/test_util.h"

namespace faultline {
namespace {

using testing::CommandResult;
using testing::RunCommand;
using testing::ShellQuote;

std::string BuildDir() {
  return std::filesystem::path(testing::FaultlineBinary()).parent_path().parent_path().string();
}

TEST(DemoTest, TheDemoScriptStreamsTheOutageAndNamesItsRootCause) {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("live");
  const std::string script = (testing::SourceDir() / "scripts" / "demo.sh").string();
  CommandResult r = RunCommand("DEMO_SHORT=1 DEMO_MINUTES=8 DEMO_REALTIME=40 DEMO_DIR=" +
                               ShellQuote(dir) + " " + ShellQuote(script) + " " +
                               ShellQuote(BuildDir()) + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.out.substr(r.out.size() > 4000 ? r.out.size() - 4000 : 0);
  // serve opened the incident live, naming the cause.
  EXPECT_NE(r.out.find("opened at"), std::string::npos) << r.out.substr(0, 3000);
  EXPECT_NE(r.out.find("cause gpu-pool-us-east (infrastructure/gpu)"), std::string::npos);
  EXPECT_NE(r.out.find("root cause: gpu-pool-us-east (matches the truth)"), std::string::npos)
      << r.out.substr(r.out.size() > 4000 ? r.out.size() - 4000 : 0);
  EXPECT_NE(r.out.find("## Identified"), std::string::npos);  // the status page
  EXPECT_NE(r.out.find("regions: us-east"), std::string::npos);
  const std::string page = testing::ReadFile(dir + "/report.html");
  EXPECT_NE(page.find("gpu-pool-us-east"), std::string::npos);
  // Part B, the tour, ran too.
  EXPECT_NE(r.out.find("Lines faultline could not read"), std::string::npos);

  // The page in a real browser.
  if (RunCommand("command -v chromium").exit_code != 0) {
    GTEST_SKIP() << "chromium is not installed: the report was not checked in a browser "
                    "(apt-get install chromium; .ci/run does)";
  }
  const std::string chromium =
      "chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage "
      "--no-first-run --user-data-dir=" + ShellQuote(tmp.Sub("profile")) + " ";
  CommandResult dom = RunCommand(chromium + "--dump-dom " + ShellQuote("file://" + dir + "/report.html") +
                                 " 2>/dev/null");
  ASSERT_EQ(dom.exit_code, 0);
  const size_t chain = dom.out.find("id=\"chain\"");
  ASSERT_NE(chain, std::string::npos) << dom.out.substr(0, 2000);
  EXPECT_NE(dom.out.find("gpu-pool-us-east", chain), std::string::npos);
  EXPECT_NE(dom.out.find("edge", chain), std::string::npos);
  const size_t causes = dom.out.find("id=\"causes\"");
  ASSERT_NE(causes, std::string::npos);
  EXPECT_NE(dom.out.find("gpu-pool-us-east", causes), std::string::npos);
  EXPECT_NE(dom.out.find("scheduler", causes), std::string::npos);
  const std::string shot = dir + "/report.png";
  CommandResult png = RunCommand(chromium + "--window-size=1280,2400 --screenshot=" +
                                 ShellQuote(shot) + " " +
                                 ShellQuote("file://" + dir + "/report.html") + " 2>&1");
  ASSERT_EQ(png.exit_code, 0) << png.out;
  ASSERT_TRUE(std::filesystem::exists(shot)) << png.out;
  EXPECT_GT(std::filesystem::file_size(shot), 20000u);
  // Kept for a look: build/report-screenshot.png.
  std::error_code ec;
  std::filesystem::copy_file(shot, BuildDir() + "/report-screenshot.png",
                             std::filesystem::copy_options::overwrite_existing, ec);
}

}  // namespace
}  // namespace faultline
