// `faultline serve` end to end: the embedded Kafka-protocol broker in this
// test process (so the test can inject faults into it), `faultline serve` as
// a child process (so it can be killed), and the store checked through
// `faultline search`. Every produced record carries a unique sequence number;
// "exactly once" means every number is stored once, with its partition and
// offset, and nothing else is.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>

#include "core/time.h"
#include "ingest/kafka_broker.h"
#include "ingest/kafka_producer.h"
#include "storage/reader.h"
#include "tests/testutil/child_process.h"
#include "tests/testutil/test_util.h"

namespace faultline {
namespace {

using ::faultline::testing::ChildProcess;
using ::faultline::testing::FaultlineBinary;
using ::faultline::testing::KcatConsume;
using ::faultline::testing::OutageLines;
using ::faultline::testing::ReadFile;
using ::faultline::testing::RunCommand;
using ::faultline::testing::ShellQuote;
using ::faultline::testing::TempDir;
using ::faultline::testing::WaitFor;
using namespace std::chrono_literals;

constexpr int kPartitions = 8;

std::string UniqueName(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + "-" +
         std::to_string(NowNanos() % 1000000);
}

// What the store holds, read back through the CLI.
struct Stored {
  std::map<int64_t, int> seq_count;                // sequence number -> times stored
  std::set<std::pair<int, int64_t>> positions;     // (partition, offset)
  size_t records = 0;
  size_t without_position = 0;
};

int64_t NumberAfter(const std::string& line, const std::string& key) {
  const size_t at = line.find(key);
  if (at == std::string::npos) return -1;
  return std::strtoll(line.c_str() + at + key.size(), nullptr, 10);
}

void ReadStore(const std::string& db, Stored* stored) {
  const testing::CommandResult result =
      RunCommand(ShellQuote(FaultlineBinary()) + " search --db " + ShellQuote(db) +
                 " --all -o json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  size_t pos = 0;
  while (pos < result.out.size()) {
    size_t end = result.out.find('\n', pos);
    if (end == std::string::npos) end = result.out.size();
    const std::string line = result.out.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty()) continue;
    ++stored->records;
    const int64_t seq = NumberAfter(line, "seq=");
    if (seq >= 0) ++stored->seq_count[seq];
    const int64_t partition = NumberAfter(line, "\"partition\":");
    const int64_t offset = NumberAfter(line, "\"offset\":");
    if (partition < 0) {
      ++stored->without_position;
      continue;
    }
    stored->positions.insert({static_cast<int>(partition), offset});
  }
}

size_t CountStored(const std::string& db) {
  const testing::CommandResult result = RunCommand(ShellQuote(FaultlineBinary()) +
                                                   " search --db " + ShellQuote(db) + " --count");
  if (result.exit_code != 0) return 0;
  return static_cast<size_t>(std::strtoull(result.out.c_str(), nullptr, 10));
}

// Every sequence number in [0, n) stored exactly once across `dbs`, each
// (partition, offset) once, and nothing else.
void ExpectExactlyOnce(const std::vector<std::string>& dbs, int64_t n) {
  Stored all;
  size_t position_total = 0;
  for (const std::string& db : dbs) {
    Stored one;
    ReadStore(db, &one);
    all.records += one.records;
    all.without_position += one.without_position;
    position_total += one.positions.size();
    for (const auto& [seq, count] : one.seq_count) all.seq_count[seq] += count;
    all.positions.insert(one.positions.begin(), one.positions.end());
  }
  EXPECT_EQ(all.records, static_cast<size_t>(n));
  EXPECT_EQ(all.without_position, 0u);
  EXPECT_EQ(all.positions.size(), position_total) << "a (partition, offset) stored twice";
  EXPECT_EQ(all.positions.size(), static_cast<size_t>(n));
  int64_t missing = 0;
  int64_t doubled = 0;
  for (int64_t seq = 0; seq < n; ++seq) {
    auto it = all.seq_count.find(seq);
    if (it == all.seq_count.end()) {
      ++missing;
    } else if (it->second > 1) {
      ++doubled;
    }
  }
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(doubled, 0);
  EXPECT_EQ(all.seq_count.size(), static_cast<size_t>(n));
}

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override { StartBroker(1); }
  void TearDown() override {
    if (HasFailure()) std::fprintf(stderr, "%s", ServeLogs().c_str());
  }

  void StartBroker(int brokers) {
    broker_.reset();
    ingest::BrokerOptions options;
    options.brokers = brokers;
    options.partitions = kPartitions;
    topic_ = UniqueName("logs");
    options.topics = {topic_};
    Result<std::unique_ptr<ingest::EmbeddedBroker>> broker = ingest::EmbeddedBroker::Start(options);
    ASSERT_TRUE(broker.ok()) << broker.status().ToString();
    broker_ = std::move(broker).value();
    group_ = UniqueName("group");
  }

  std::unique_ptr<ChildProcess> StartServe(const std::string& db,
                                           const std::vector<std::string>& extra = {},
                                           const std::string& metrics_addr = "") {
    std::vector<std::string> args = {FaultlineBinary(),
                                     "serve",
                                     "--brokers",
                                     broker_->bootstrap_servers(),
                                     "--topic",
                                     topic_,
                                     "--group",
                                     group_,
                                     "--db",
                                     db,
                                     "--metrics-addr",
                                     metrics_addr,
                                     "--property",
                                     "session.timeout.ms=6000",
                                     "--property",
                                     "heartbeat.interval.ms=500"};
    args.insert(args.end(), extra.begin(), extra.end());
    ++serves_;
    auto serve = std::make_unique<ChildProcess>(
        args, dir_.Sub("serve.out"), dir_.Sub("serve-" + std::to_string(serves_) + ".err"));
    EXPECT_TRUE(serve->started());
    EXPECT_TRUE(WaitAssigned(serves_, 60s)) << ServeLogs();
    return serve;
  }

  // Waits until serve number `index` (1-based, in start order) has been
  // given its partitions, so that what is produced next is consumed while
  // it is produced (the embedded broker keeps only a few MiB per partition).
  bool WaitAssigned(int index, std::chrono::seconds timeout = 30s) {
    return WaitFor(
        [&] {
          return ReadFile(dir_.Sub("serve-" + std::to_string(index) + ".err")).find("assigned") !=
                 std::string::npos;
        },
        timeout);
  }

  std::string ServeLogs() const {
    std::string all;
    for (int i = 1; i <= serves_; ++i) {
      all += "--- serve " + std::to_string(i) + "\n" +
             ReadFile(dir_.Sub("serve-" + std::to_string(i) + ".err"));
    }
    return all;
  }

  std::unique_ptr<ingest::KafkaProducer> MakeProducer() {
    ingest::ProducerOptions options;
    options.bootstrap_servers = broker_->bootstrap_servers();
    options.properties = {{"linger.ms", "5"}};
    Result<std::unique_ptr<ingest::KafkaProducer>> producer = ingest::KafkaProducer::Create(options);
    EXPECT_TRUE(producer.ok()) << producer.status().ToString();
    return producer.ok() ? std::move(producer).value() : nullptr;
  }

  // Records [from, to), spread over the partitions by key; `per_second` > 0
  // paces them.
  void Produce(ingest::KafkaProducer* producer, int64_t from, int64_t to, int per_second = 0) {
    const auto start = std::chrono::steady_clock::now();
    const std::string ts = FormatRfc3339(NowNanos(), 3);
    for (int64_t seq = from; seq < to; ++seq) {
      const std::string service = "svc-" + std::to_string(seq % 13);
      const std::string line = "{\"ts\":\"" + ts + "\",\"level\":\"info\",\"service\":\"" +
                               service + "\",\"msg\":\"request done seq=" + std::to_string(seq) +
                               " in " + std::to_string(seq % 97) + " ms\"}";
      ASSERT_OK(producer->Produce(topic_, std::to_string(seq % 64), line));
      if (per_second > 0 && (seq - from) % 1000 == 999) {
        const auto due = start + std::chrono::microseconds((seq - from + 1) * 1000000 / per_second);
        std::this_thread::sleep_until(due);
      }
    }
    ASSERT_OK(producer->Flush(60000));
    EXPECT_EQ(producer->counters().failed, 0u) << producer->counters().last_error;
  }

  // Waits until the stores in `dbs` hold at least `n` records together;
  // false as soon as one of `serves` has died (no point waiting then).
  bool WaitStored(const std::vector<ChildProcess*>& serves, const std::vector<std::string>& dbs,
                  size_t n, std::chrono::seconds timeout) {
    bool died = false;
    const bool reached = WaitFor(
        [&] {
          for (ChildProcess* serve : serves) died = died || !serve->Running();
          if (died) return true;
          size_t total = 0;
          for (const std::string& db : dbs) total += CountStored(db);
          return total >= n;
        },
        timeout);
    return reached && !died;
  }

  TempDir dir_;
  std::unique_ptr<ingest::EmbeddedBroker> broker_;
  std::string topic_;
  std::string group_;
  int serves_ = 0;
};

TEST_F(ServeTest, StoresEveryRecordProducedWhileRunningExactlyOnce) {
  const std::string db = dir_.Sub("db");
  std::unique_ptr<ChildProcess> serve = StartServe(db);
  auto producer = MakeProducer();
  ASSERT_NE(producer, nullptr);
  constexpr int64_t kRecords = 200000;
  Produce(producer.get(), 0, kRecords, 25000);
  EXPECT_TRUE(WaitStored({serve.get()}, {db}, kRecords, 120s)) << ServeLogs();
  serve->Signal(SIGTERM);
  const auto stop_start = std::chrono::steady_clock::now();
  EXPECT_EQ(serve->Wait(15s), 0) << ServeLogs();
  EXPECT_LT(std::chrono::steady_clock::now() - stop_start, 10s);
  ExpectExactlyOnce({db}, kRecords);
}

TEST_F(ServeTest, KillNineMidStreamThenRestartLosesAndDoublesNothing) {
  const std::string db = dir_.Sub("db");
  std::unique_ptr<ChildProcess> serve = StartServe(db);
  auto producer = MakeProducer();
  ASSERT_NE(producer, nullptr);
  constexpr int64_t kRecords = 60000;
  std::thread produce([&] { Produce(producer.get(), 0, kRecords, 20000); });
  EXPECT_TRUE(WaitStored({serve.get()}, {db}, 10000, 60s)) << ServeLogs();
  serve->Signal(SIGKILL);
  EXPECT_EQ(serve->Wait(10s), 128 + SIGKILL);
  serve = StartServe(db);
  produce.join();
  EXPECT_TRUE(WaitStored({serve.get()}, {db}, kRecords, 120s)) << ServeLogs();
  serve->Signal(SIGTERM);
  EXPECT_EQ(serve->Wait(15s), 0) << ServeLogs();
  ExpectExactlyOnce({db}, kRecords);
}

TEST_F(ServeTest, BrokerDownForFiveSecondsThenBack) {
  const std::string db = dir_.Sub("db");
  std::unique_ptr<ChildProcess> serve = StartServe(db);
  auto producer = MakeProducer();
  ASSERT_NE(producer, nullptr);
  constexpr int64_t kRecords = 40000;
  Produce(producer.get(), 0, kRecords / 2);
  EXPECT_TRUE(WaitStored({serve.get()}, {db}, kRecords / 2, 60s)) << ServeLogs();
  ASSERT_OK(broker_->SetBrokerDown(1));
  std::this_thread::sleep_for(5s);
  ASSERT_OK(broker_->SetBrokerUp(1));
  Produce(producer.get(), kRecords / 2, kRecords);
  EXPECT_TRUE(WaitStored({serve.get()}, {db}, kRecords, 90s)) << ServeLogs();
  EXPECT_TRUE(serve->Running()) << ServeLogs();
  serve->Signal(SIGTERM);
  EXPECT_EQ(serve->Wait(15s), 0) << ServeLogs();
  ExpectExactlyOnce({db}, kRecords);
}

TEST_F(ServeTest, FetchAndCommitErrorsLoseAndDoubleNothing) {
  const std::string db = dir_.Sub("db");
  std::unique_ptr<ChildProcess> serve = StartServe(db);
  auto producer = MakeProducer();
  ASSERT_NE(producer, nullptr);
  constexpr int64_t kRecords = 40000;
  Produce(producer.get(), 0, 10000);
  EXPECT_TRUE(WaitStored({serve.get()}, {db}, 10000, 60s)) << ServeLogs();
  using ingest::KafkaApi;
  using ingest::KafkaError;
  broker_->PushRequestErrors(KafkaApi::kFetch,
                             {KafkaError::kNotLeaderForPartition, KafkaError::kRequestTimedOut,
                              KafkaError::kDisconnect, KafkaError::kLeaderNotAvailable,
                              KafkaError::kNetworkException});
  broker_->PushRequestErrors(KafkaApi::kOffsetCommit,
                             {KafkaError::kRequestTimedOut, KafkaError::kCoordinatorNotAvailable,
                              KafkaError::kNotCoordinator, KafkaError::kRequestTimedOut});
  Produce(producer.get(), 10000, 30000);
  EXPECT_TRUE(WaitStored({serve.get()}, {db}, 30000, 90s)) << ServeLogs();
  // Failed commits must not matter on a restart: the store is the truth.
  serve->Signal(SIGKILL);
  serve->Wait(10s);
  serve = StartServe(db);
  Produce(producer.get(), 30000, kRecords);
  EXPECT_TRUE(WaitStored({serve.get()}, {db}, kRecords, 90s)) << ServeLogs();
  serve->Signal(SIGTERM);
  EXPECT_EQ(serve->Wait(15s), 0) << ServeLogs();
  ExpectExactlyOnce({db}, kRecords);
}

TEST_F(ServeTest, TwoMembersJoinAndLeaveMidStream) {
  const std::string db_a = dir_.Sub("db-a");
  const std::string db_b = dir_.Sub("db-b");
  std::unique_ptr<ChildProcess> a = StartServe(db_a);
  auto producer = MakeProducer();
  ASSERT_NE(producer, nullptr);
  constexpr int64_t kRecords = 60000;
  std::thread produce([&] { Produce(producer.get(), 0, kRecords, 10000); });
  EXPECT_TRUE(WaitStored({a.get()}, {db_a}, 10000, 60s)) << ServeLogs();
  std::unique_ptr<ChildProcess> b = StartServe(db_b);  // joins mid-stream
  EXPECT_TRUE(WaitStored({a.get(), b.get()}, {db_b}, 1, 60s)) << ServeLogs();
  a->Signal(SIGTERM);  // leaves mid-stream: B takes everything over
  EXPECT_EQ(a->Wait(15s), 0) << ServeLogs();
  produce.join();
  EXPECT_TRUE(
      WaitStored({b.get()}, {db_a, db_b}, kRecords, 120s))
      << ServeLogs();
  b->Signal(SIGTERM);
  EXPECT_EQ(b->Wait(15s), 0) << ServeLogs();
  ExpectExactlyOnce({db_a, db_b}, kRecords);
}

TEST_F(ServeTest, MalformedMessagesBecomeDeadLettersWithPartitionAndOffset) {
  const std::string db = dir_.Sub("db");
  std::unique_ptr<ChildProcess> serve = StartServe(db);
  auto producer = MakeProducer();
  ASSERT_NE(producer, nullptr);
  Produce(producer.get(), 0, 100);
  ASSERT_OK(producer->Produce(topic_, "bad", "{\"ts\": \"2026-11-24T10:00:00Z\", \"msg\": "));
  ASSERT_OK(producer->Produce(topic_, "bad", std::string("\x01\x02\xff binary", 10)));
  ASSERT_OK(producer->Flush(10000));
  EXPECT_TRUE(WaitFor(
      [&] {
        const testing::CommandResult dl = RunCommand(ShellQuote(FaultlineBinary()) +
                                                     " deadletter list --db " + ShellQuote(db) +
                                                     " -o json");
        return dl.exit_code == 0 && std::count(dl.out.begin(), dl.out.end(), '\n') >= 2;
      },
      60s))
      << ServeLogs();
  serve->Signal(SIGTERM);
  EXPECT_EQ(serve->Wait(15s), 0) << ServeLogs();
  const testing::CommandResult dl = RunCommand(ShellQuote(FaultlineBinary()) +
                                               " deadletter list --db " + ShellQuote(db) +
                                               " -o json");
  ASSERT_EQ(dl.exit_code, 0) << dl.err;
  EXPECT_NE(dl.out.find("\"source\":\"" + topic_ + "\""), std::string::npos) << dl.out;
  EXPECT_NE(dl.out.find("\"partition\":"), std::string::npos) << dl.out;
  EXPECT_NE(dl.out.find("truncated_json"), std::string::npos) << dl.out;
  ExpectExactlyOnce({db}, 100);
}

// The sum of every sample of `name` in a Prometheus exposition (one sample
// for an unlabelled metric); -1 when there is none.
double SampleSum(const std::string& exposition, const std::string& name) {
  double sum = -1;
  for (const std::string& line : testing::SplitLines(exposition)) {
    if (line.rfind(name, 0) != 0) continue;
    const size_t after = name.size();
    if (after < line.size() && line[after] != ' ' && line[after] != '{') continue;
    sum = std::max(sum, 0.0) + std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
  }
  return sum;
}

TEST_F(ServeTest, MetricsShowGrowingCountersAndLagAndSigtermDrains) {
  const std::string db = dir_.Sub("db");
  std::unique_ptr<ChildProcess> serve = StartServe(db, {}, "127.0.0.1:0");
  int port = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string log = ReadFile(dir_.Sub("serve-1.err"));
        const size_t at = log.find("metrics: http://127.0.0.1:");
        if (at == std::string::npos) return false;
        port = std::atoi(log.c_str() + at + std::string("metrics: http://127.0.0.1:").size());
        return port > 0;
      },
      30s))
      << ServeLogs();
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(5, 0);
  auto scrape = [&] {
    httplib::Result res = client.Get("/metrics");
    return res && res->status == 200 ? res->body : std::string();
  };
  httplib::Result health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  httplib::Result ready = client.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200) << ready->body;  // assigned: StartServe waited for it

  // Produce as fast as the producer goes, faster than serve stores, then
  // watch the counters grow and the lag appear and drain.
  auto producer = MakeProducer();
  ASSERT_NE(producer, nullptr);
  constexpr int64_t kRecords = 60000;
  std::thread produce([&] { Produce(producer.get(), 0, kRecords); });
  std::vector<double> stored;
  double max_lag = 0;
  bool saw_lag_family = false;
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < until) {
    const std::string body = scrape();
    if (!body.empty()) {
      stored.push_back(SampleSum(body, "faultline_records_stored_total"));
      const double lag = SampleSum(body, "faultline_consumer_lag");
      saw_lag_family = saw_lag_family || lag >= 0;
      max_lag = std::max(max_lag, lag);
      if (stored.back() >= kRecords) break;
    }
    std::this_thread::sleep_for(20ms);
  }
  produce.join();
  ASSERT_GE(stored.size(), 3u);
  EXPECT_EQ(stored.back(), static_cast<double>(kRecords));
  int increases = 0;
  for (size_t i = 1; i < stored.size(); ++i) {
    EXPECT_GE(stored[i], stored[i - 1]) << "a counter went down";
    if (stored[i] > stored[i - 1]) ++increases;
  }
  EXPECT_GE(increases, 2) << "records stored should grow during the run";
  EXPECT_TRUE(saw_lag_family);
  EXPECT_GT(max_lag, 0) << "some lag should show while records arrive";
  const std::string last = scrape();
  EXPECT_EQ(SampleSum(last, "faultline_kafka_messages_total"), static_cast<double>(kRecords));
  EXPECT_GT(SampleSum(last, "faultline_kafka_bytes_total"), 0);
  EXPECT_GT(SampleSum(last, "faultline_batch_seconds_count"), 0);
  EXPECT_GT(SampleSum(last, "faultline_store_bytes"), 0);
  EXPECT_EQ(SampleSum(last, "faultline_consumer_partitions"), kPartitions);
  // A fresh topic's offsets start at 0: the next offsets stored add up to
  // the records.
  EXPECT_EQ(SampleSum(last, "faultline_stored_offset"), static_cast<double>(kRecords));
  // Caught up: the lag drains to zero.
  EXPECT_TRUE(WaitFor([&] { return SampleSum(scrape(), "faultline_consumer_lag") == 0; }, 30s));

  serve->Signal(SIGTERM);
  const auto stop_start = std::chrono::steady_clock::now();
  EXPECT_EQ(serve->Wait(15s), 0) << ServeLogs();
  EXPECT_LT(std::chrono::steady_clock::now() - stop_start, 10s);
  ExpectExactlyOnce({db}, kRecords);
}

TEST_F(ServeTest, DeadLettersAlsoGoToTheDeadLetterTopicWithTheReason) {
  const std::string db = dir_.Sub("db");
  const std::string dlq = UniqueName("dead-letters");
  ASSERT_OK(broker_->CreateTopic(dlq, 1));
  std::unique_ptr<ChildProcess> serve = StartServe(db, {"--dead-letter-topic", dlq});
  auto producer = MakeProducer();
  ASSERT_NE(producer, nullptr);
  Produce(producer.get(), 0, 50);
  ASSERT_OK(producer->Produce(topic_, "bad", "{\"ts\": \"2026-11-24T10:00:00Z\", \"msg\": "));
  ASSERT_OK(producer->Flush(10000));
  // kcat, an independent client, reads the topic with its headers.
  std::string out;
  EXPECT_TRUE(WaitFor(
      [&] {
        const testing::CommandResult r = RunCommand(
            "kcat -C -b " + broker_->bootstrap_servers() + " -t " + dlq +
            " -o beginning -e -q -f '%h|%s\\n' 2>&1");
        out = r.out;
        return out.find("faultline.reason=") != std::string::npos;
      },
      60s))
      << out << ServeLogs();
  EXPECT_NE(out.find("faultline.reason=truncated_json"), std::string::npos) << out;
  EXPECT_NE(out.find("faultline.source=" + topic_), std::string::npos) << out;
  EXPECT_NE(out.find("faultline.partition="), std::string::npos) << out;
  EXPECT_NE(out.find("\"msg\": "), std::string::npos) << out;
  serve->Signal(SIGTERM);
  EXPECT_EQ(serve->Wait(15s), 0) << ServeLogs();
  ExpectExactlyOnce({db}, 50);
}

// Incidents on event time: an outage streamed through the broker opens an
// incident whose cause is the failing api, logged, served at
// /api/incidents, stored, and produced to --incidents-topic.
TEST_F(ServeTest, IncidentsOpenOnEventTimeAndAreLoggedServedStoredAndProduced) {
  const std::string db = dir_.Sub("db");
  const std::string topic = UniqueName("incidents");
  ASSERT_OK(broker_->CreateTopic(topic, 1));
  std::unique_ptr<ChildProcess> serve =
      StartServe(db, {"--incidents-interval", "60s", "--incidents-topic", topic}, "127.0.0.1:0");
  auto producer = MakeProducer();
  ASSERT_NE(producer, nullptr);
  const std::vector<std::string> lines = OutageLines();
  for (size_t i = 0; i < lines.size(); ++i) {
    // Keyed by service, so one service's records stay in order.
    const std::string& line = lines[i];
    const std::string key = line.find("\"service\":\"api\"") != std::string::npos ? "api" : "gateway";
    ASSERT_OK(producer->Produce(topic_, key, line));
    if (i % 5000 == 4999) std::this_thread::sleep_for(50ms);  // the broker keeps a few MiB
  }
  ASSERT_OK(producer->Flush(60000));
  std::string id;
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string log = ReadFile(dir_.Sub("serve-1.err"));
        const size_t at = log.find("incident ");
        if (at == std::string::npos || log.find(" opened at ", at) == std::string::npos) {
          return false;
        }
        id = log.substr(at + 9, log.find(' ', at + 9) - at - 9);
        return true;
      },
      90s))
      << ServeLogs();
  const std::string log = ReadFile(dir_.Sub("serve-1.err"));
  EXPECT_NE(log.find("incident " + id + " opened at 2026-01-01T00:30:00Z: cause api"),
            std::string::npos)
      << log;

  int port = 0;
  const size_t at = log.find("metrics: http://127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << log;
  port = std::atoi(log.c_str() + at + std::string("metrics: http://127.0.0.1:").size());
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(5, 0);
  httplib::Result list = client.Get("/api/incidents");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 200);
  EXPECT_EQ(list->body.front(), '[');
  EXPECT_NE(list->body.find("\"id\":\"" + id + "\""), std::string::npos) << list->body;
  httplib::Result one = client.Get("/api/incidents/" + id);
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 200);
  EXPECT_NE(one->body.find("\"causes\":[{\"service\":\"api\""), std::string::npos) << one->body;
  EXPECT_NE(one->body.find("\"chain\":[\"api\",\"gateway\"]"), std::string::npos) << one->body;
  httplib::Result none = client.Get("/api/incidents/20200101T000000-000000");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 404);

  // kcat, an independent client, reads the incident from the topic.
  std::vector<std::string> produced;
  EXPECT_TRUE(WaitFor(
      [&] {
        produced = KcatConsume(broker_->bootstrap_servers(), topic, "%k %s\\n");
        return !produced.empty();
      },
      60s));
  bool found = false;
  for (const std::string& message : produced) found = found || message.find(id) != std::string::npos;
  EXPECT_TRUE(found) << produced.size() << " messages";

  serve->Signal(SIGTERM);
  EXPECT_EQ(serve->Wait(15s), 0) << ServeLogs();
  Result<std::unique_ptr<storage::Reader>> reader = storage::Reader::Open(db);
  ASSERT_TRUE(reader.ok());
  Result<std::string> stored = (*reader)->Incident(id);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_NE(stored->find("\"service\":\"api\""), std::string::npos);
  // The CLI lists what serve stored.
  const testing::CommandResult listed =
      RunCommand(ShellQuote(FaultlineBinary()) + " incidents --stored --db " + ShellQuote(db) +
                 " --since 2026-01-01T00:00:00Z --until 2026-01-02T00:00:00Z");
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find(id), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find(" api "), std::string::npos) << listed.out;
}

}  // namespace
}  // namespace faultline
