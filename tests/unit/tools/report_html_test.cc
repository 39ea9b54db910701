#include "tools/report_html.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "correlate/incident.h"

namespace faultline::tools {
namespace {

using correlate::Cause;
using correlate::Family;
using correlate::Finding;
using correlate::Incident;

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kStart = int64_t{1'700'000'000} * kSec;  // 2023-11-14T22:13:20Z
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

Finding MakeFinding(const std::string& service, const std::string& signal, int64_t onset_ns,
                    double baseline, double peak) {
  Finding f;
  f.service = service;
  f.signal = signal;
  f.onset_ns = onset_ns;
  f.peak_ns = onset_ns + 10 * kSec;
  f.end_ns = onset_ns + 120 * kSec;
  f.anomaly.baseline = baseline;
  f.anomaly.peak_value = peak;
  f.anomaly.strength = 9;
  return f;
}

class ReportHtmlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    incident_.id = "20231114T221450-abc123";
    incident_.onset_ns = kStart + 90 * kSec;
    incident_.detected_ns = incident_.onset_ns + 10 * kSec;
    incident_.end_ns = incident_.onset_ns + 300 * kSec;
    incident_.state = correlate::IncidentState::kIdentified;
    incident_.identified = true;
    incident_.chain = {"gpu-pool", "scheduler", "gateway"};
    incident_.services = {"gpu-pool", "scheduler", "gateway", "billing"};
    incident_.endpoints = {"POST /v1/jobs"};
    incident_.regions = {"eu-west-1"};

    Cause root;
    root.service = "gpu-pool";
    root.family = Family::kInfrastructure;
    root.kind = "gpu";
    root.score = 12.5;
    root.confidence = 0.734;
    root.why = "GPU Xid errors began first & explain <2> callers";
    Cause second;
    second.service = "scheduler";
    second.family = Family::kSoftware;
    second.kind = "exception";
    second.score = 4.5;
    second.confidence = 0.266;
    second.why = "errors, but after gpu-pool";
    incident_.causes = {root, second};

    Finding gpu = MakeFinding("gpu-pool", "metric:gpu_xid_errors", kStart + 90 * kSec, 0, 14);
    gpu.family = Family::kInfrastructure;
    gpu.kind = "gpu";
    Finding sched = MakeFinding("scheduler", "errors", kStart + 110 * kSec, 2, 80);
    sched.dimension = "endpoint=POST /v1/jobs";
    Finding gate = MakeFinding("gateway", "latency", kStart + 130 * kSec, 120, 950);
    gate.stat = correlate::Stat::kP95;
    Finding gate_late = MakeFinding("gateway", "errors", kStart + 150 * kSec, 1, 40);
    incident_.timeline = {gpu, sched, gate, gate_late};

    correlate::EvidenceLine line;
    line.ts_ns = kStart + 95 * kSec;
    line.service = "gpu-pool";
    line.level = Level::kError;
    line.message = "Xid 79 <script>alert(1)</script> & \"quotes\"";
    line.provenance.source = "/var/log/gpu-pool.log";
    line.provenance.offset = 4096;
    incident_.lines = {line};

    input_.incident = &incident_;
    input_.start_ns = kStart;
    input_.bucket_ns = 10 * kSec;
    input_.generated_by = "faultline report 0.1-test";
    input_.edges = {{"gateway", "scheduler"}, {"scheduler", "gpu-pool"}, {"billing", "gateway"}};
    input_.status = {{"investigating", incident_.detected_ns, "gateway, POST /v1/jobs",
                      "We are investigating errors."},
                     {"identified", incident_.detected_ns + 60 * kSec, "gpu-pool",
                      "GPU nodes are failing."}};
    const std::vector<double> flat_then_up = {1, 1, 1, 1, 1, 1, 1, 1, 1, 9, 9, 9, 9, 9, 9, 9,
                                              9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
    std::vector<double> gap = flat_then_up;
    gap[4] = kNaN;
    gap[5] = kNaN;
    input_.series = {
        {"gateway", "p95 latency ms", gap},
        {"gateway", "errors", flat_then_up},
        {"gpu-pool", "errors", gap},
        {"scheduler", "errors", flat_then_up},
        {"scheduler", "calls", {kNaN, kNaN, kNaN}},  // no data at all
        {"billing", "calls", flat_then_up},
    };
  }

  Incident incident_;
  ReportInput input_;
};

TEST_F(ReportHtmlTest, RendersEverySection) {
  const std::string html = ReportHtml(input_);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("</html>"), std::string::npos);
  EXPECT_NE(html.find("20231114T221450-abc123"), std::string::npos);
  EXPECT_NE(html.find("2023-11-14T22:14:50Z"), std::string::npos);  // onset
  EXPECT_NE(html.find("Detected after</b> 10 s"), std::string::npos);
  EXPECT_NE(html.find("Recovered after</b> 5 min"), std::string::npos);
  EXPECT_EQ(html.find("Cause unknown"), std::string::npos);
  for (const char* section : {"Cascade", "Ranked causes", "Signals", "Impact", "Evidence lines",
                              "Timeline", "Status updates"}) {
    EXPECT_NE(html.find("<h2>" + std::string(section) + "</h2>"), std::string::npos) << section;
  }
  // The chain as text ("->" escaped) and each node as SVG text.
  EXPECT_NE(html.find("<span id=\"chain\" class=\"mono\">gpu-pool -&gt; scheduler -&gt; "
                      "gateway</span>"),
            std::string::npos);
  for (const char* service : {"gpu-pool", "scheduler", "gateway"}) {
    EXPECT_NE(html.find(std::string("text-anchor=\"middle\">") + service + "</text>"),
              std::string::npos)
        << service;
  }
  // Root drawn first and highlighted, user-facing end last.
  const size_t root = html.find("<g class=\"r\"><title>gpu-pool</title>");
  const size_t user_end = html.find("<g class=\"u\"><title>gateway</title>");
  ASSERT_NE(root, std::string::npos);
  ASSERT_NE(user_end, std::string::npos);
  EXPECT_LT(root, user_end);
  // billing calls gateway and is an incident service: drawn faintly.
  EXPECT_NE(html.find("<g class=\"f\"><title>billing</title>"), std::string::npos);

  // Causes: both services in the table, the first one's percentage.
  const size_t causes = html.find("<table id=\"causes\">");
  ASSERT_NE(causes, std::string::npos);
  const std::string table = html.substr(causes, html.find("</table>", causes) - causes);
  EXPECT_NE(table.find(">gpu-pool</td>"), std::string::npos);
  EXPECT_NE(table.find(">scheduler</td>"), std::string::npos);
  EXPECT_NE(table.find("73%"), std::string::npos);
  EXPECT_NE(table.find("width:73%"), std::string::npos);
  EXPECT_NE(table.find("27%"), std::string::npos);
  EXPECT_NE(table.find("infrastructure / gpu"), std::string::npos);
  EXPECT_NE(table.find("GPU Xid errors began first &amp; explain &lt;2&gt; callers"),
            std::string::npos);

  // Impact, evidence provenance, timeline, status, footer.
  EXPECT_NE(html.find("POST /v1/jobs"), std::string::npos);
  EXPECT_NE(html.find("eu-west-1"), std::string::npos);
  EXPECT_NE(html.find("/var/log/gpu-pool.log@4096"), std::string::npos);
  EXPECT_NE(html.find("errors{endpoint=POST /v1/jobs}"), std::string::npos);
  EXPECT_NE(html.find("<td>up</td><td>p95_ms 120 -&gt; 950</td>"), std::string::npos);
  EXPECT_NE(html.find("We are investigating errors."), std::string::npos);
  EXPECT_NE(html.find("GPU nodes are failing."), std::string::npos);
  EXPECT_NE(html.find("faultline report 0.1-test"), std::string::npos);
  EXPECT_NE(html.find("self-contained: no network fetches"), std::string::npos);
}

TEST_F(ReportHtmlTest, EscapesTextFromData) {
  const std::string html = ReportHtml(input_);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("alert(1)</script>"), std::string::npos);
  EXPECT_NE(html.find("Xid 79 &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;"),
            std::string::npos);

  incident_.chain = {"a<b>", "c&d"};
  incident_.services = {"a<b>", "c&d", "e\"f"};
  input_.edges = {{"e\"f", "c&d"}};
  input_.series = {{"a<b>", "x<y", {1, 2, 3}}};
  const std::string odd = ReportHtml(input_);
  EXPECT_EQ(odd.find("a<b>"), std::string::npos);
  EXPECT_EQ(odd.find("c&d"), std::string::npos);
  EXPECT_EQ(odd.find("e\"f"), std::string::npos);
  EXPECT_EQ(odd.find("x<y"), std::string::npos);
  EXPECT_NE(odd.find("a&lt;b&gt; -&gt; c&amp;d"), std::string::npos);
  EXPECT_NE(odd.find("<title>e&quot;f</title>"), std::string::npos);
}

TEST_F(ReportHtmlTest, FetchesNothing) {
  const std::string html = ReportHtml(input_);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find(" src="), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_NE(html.find("default-src 'none'"), std::string::npos);
}

TEST_F(ReportHtmlTest, DrawsOneSparklinePerSeries) {
  const std::string html = ReportHtml(input_);
  // One cascade plus one per series.
  EXPECT_EQ(Count(html, "<svg"), 1 + input_.series.size());
  EXPECT_EQ(Count(html, "<div class=\"spark\">"), input_.series.size());
  // The NaN gap splits the line: two "M" moves in a series with one gap.
  const size_t gpu = html.find("<title>gpu-pool: errors</title>");
  ASSERT_NE(gpu, std::string::npos);
  const std::string spark = html.substr(gpu, html.find("</svg>", gpu) - gpu);
  const size_t path = spark.find("<path d=\"");
  ASSERT_NE(path, std::string::npos);
  const std::string d = spark.substr(path, spark.find('"', path + 9) - path);
  EXPECT_EQ(Count(d, "M"), 2u) << d;
  EXPECT_EQ(d.find("nan"), std::string::npos) << d;
  // Incident onset (dashed) and gpu-pool's first onset (red) both marked, at
  // 90 s of 310 s: x = 240 * 90 / 310 = 69.7.
  EXPECT_NE(spark.find("x1=\"69.7\""), std::string::npos) << spark;
  EXPECT_NE(spark.find("stroke=\"#dc2626\""), std::string::npos);
  EXPECT_NE(spark.find("stroke-dasharray=\"3 2\""), std::string::npos);
  // A series with no data says so and draws no line.
  const size_t calls = html.find("<title>scheduler: calls</title>");
  ASSERT_NE(calls, std::string::npos);
  EXPECT_EQ(html.substr(calls, html.find("</svg>", calls) - calls).find("<path"),
            std::string::npos);
  // Chain services first in chain order, then the others.
  const size_t rows[] = {html.find("<tr><th>gpu-pool"), html.find("<tr><th>scheduler"),
                         html.find("<tr><th>gateway"), html.find("<tr><th>billing")};
  for (size_t i = 0; i < 4; ++i) ASSERT_NE(rows[i], std::string::npos) << i;
  EXPECT_LT(rows[0], rows[1]);
  EXPECT_LT(rows[1], rows[2]);
  EXPECT_LT(rows[2], rows[3]);
}

TEST_F(ReportHtmlTest, RendersUnknownCauseWithoutChain) {
  Incident empty;
  empty.id = "20231114T221450-000000";
  empty.onset_ns = kStart;
  empty.ongoing = true;
  ReportInput input;
  input.incident = &empty;
  const std::string html = ReportHtml(input);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("Cause unknown"), std::string::npos);
  EXPECT_NE(html.find("id=\"chain\""), std::string::npos);
  EXPECT_NE(html.find("not yet (ongoing)"), std::string::npos);
  EXPECT_NE(html.find("<table id=\"causes\">"), std::string::npos);
  EXPECT_EQ(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("</html>"), std::string::npos);

  // Causes listed but not convincing: still "unknown".
  incident_.identified = false;
  EXPECT_NE(ReportHtml(input_).find("Cause unknown"), std::string::npos);

  // No incident at all.
  EXPECT_NE(ReportHtml(ReportInput{}).find("No incident given."), std::string::npos);
}

}  // namespace
}  // namespace faultline::tools
