// Trace blame on stored records: a service that fails without logging is
// found through its callers' error lines and their traces.
#include "correlate/blame.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "storage/reader.h"
#include "storage/store.h"
#include "tests/testutil/test_util.h"

namespace faultline::correlate {
namespace {

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kBucket = 10 * kSec;
constexpr int64_t kT0 = int64_t{1'800'000'000} * kSec;  // the window starts here

Record Span(int64_t ts, const std::string& service, const std::string& trace,
            const std::string& id, const std::string& parent) {
  Record r;
  r.kind = RecordKind::kSpan;
  r.ts_ns = ts;
  r.service = service;
  r.trace_id = trace;
  r.span_id = id;
  r.parent_span_id = parent;
  r.name = service + ".handle";
  r.duration_ns = 5'000'000;
  return r;
}

Record Log(int64_t ts, const std::string& service, Level level, const std::string& trace,
           const std::string& span, const std::string& message) {
  Record r;
  r.ts_ns = ts;
  r.service = service;
  r.level = level;
  r.trace_id = trace;
  r.span_id = span;
  r.message = message;
  return r;
}

// gateway -> travel -> {route, seat}; a request every 10 s from 30 minutes
// before kT0 to 5 minutes after. From kT0 on, route fails: travel logs an
// ERROR and never calls seat. Before that, one request in 60 fails at seat
// (seat logs its own ERROR): background noise, the same rate throughout.
std::vector<Record> Fleet() {
  std::vector<Record> records;
  int n = 0;
  for (int64_t t = kT0 - 1800 * kSec; t < kT0 + 300 * kSec; t += 10 * kSec, ++n) {
    const std::string trace = "t" + std::to_string(n);
    const bool route_broken = t >= kT0;
    records.push_back(Span(t, "gateway", trace, trace + "g", ""));
    records.push_back(Span(t + 1000, "travel", trace, trace + "t", trace + "g"));
    records.push_back(Span(t + 2000, "route", trace, trace + "r", trace + "t"));
    if (route_broken) {
      records.push_back(Log(t + 3000, "travel", Level::kError, trace, trace + "t",
                            "Servlet.service() threw exception"));
      continue;
    }
    records.push_back(Span(t + 3000, "seat", trace, trace + "s", trace + "t"));
    records.push_back(Log(t + 4000, "travel", Level::kInfo, trace, trace + "t", "trip listed"));
    if (n % 60 == 7) {
      records.push_back(
          Log(t + 3500, "seat", Level::kError, trace, trace + "s", "seat map not found"));
    }
  }
  return records;
}

Result<BlameResult> Blame(const std::vector<Record>& records) {
  testing::TempDir tmp;
  const std::string dir = (tmp.path() / "db").string();
  {
    FL_ASSIGN_OR_RETURN(std::unique_ptr<storage::Store> store, storage::Store::Open(dir, {}));
    RecordBatch batch;
    for (const Record& r : records) batch.Append(r);
    FL_RETURN_IF_ERROR(store->Write(storage::EncodeBatch(batch, storage::BlockOptions()), {}));
  }
  FL_ASSIGN_OR_RETURN(std::unique_ptr<storage::Reader> reader, storage::Reader::Open(dir));
  return TraceBlame(reader.get(), kT0, kT0 + 300 * kSec, kBucket);
}

TEST(TraceBlameTest, CallersErrorsAreFollowedToTheServiceTheirRequestsReached) {
  Result<BlameResult> blamed = Blame(Fleet());
  ASSERT_TRUE(blamed.ok()) << blamed.status().ToString();
  // 30 error lines in the window (one a request), 3 in the baseline.
  EXPECT_EQ(blamed->error_lines, 33u);
  EXPECT_EQ(blamed->traced, 33u);
  ASSERT_EQ(blamed->findings.size(), 1u);
  const Finding& f = blamed->findings[0];
  EXPECT_EQ(f.service, "route");  // not travel, which logged them
  EXPECT_EQ(f.signal, kTraceErrors);
  EXPECT_EQ(f.anomaly.peak_value, 30);
  EXPECT_EQ(f.anomaly.baseline, 0);
  EXPECT_GT(f.anomaly.strength, 20);
  EXPECT_EQ(f.onset_ns, kT0);
  EXPECT_TRUE(f.ongoing);
}

// Seat's own error lines (no call below them) blame seat, at the baseline's
// rate: no finding. Without spans the lines cannot be followed.
TEST(TraceBlameTest, UsualErrorsAndUntracedErrorsAreNoFinding) {
  std::vector<Record> records;
  for (const Record& r : Fleet()) {
    if (r.ts_ns < kT0) records.push_back(r);
  }
  // The same noise continues into the window.
  records.push_back(Span(kT0 + 50 * kSec, "seat", "late", "lates", ""));
  records.push_back(
      Log(kT0 + 50 * kSec + 1, "seat", Level::kError, "late", "lates", "seat map not found"));
  records.push_back(Log(kT0 + 60 * kSec, "travel", Level::kError, "nospans", "x", "lost"));
  Result<BlameResult> blamed = Blame(records);
  ASSERT_TRUE(blamed.ok()) << blamed.status().ToString();
  EXPECT_EQ(blamed->error_lines, 5u);  // 3 baseline, 2 window
  EXPECT_EQ(blamed->traced, 4u);       // the one without spans is not
  EXPECT_TRUE(blamed->findings.empty()) << blamed->findings[0].service;
}

}  // namespace
}  // namespace faultline::correlate
