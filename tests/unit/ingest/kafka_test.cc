// EmbeddedBroker and KafkaProducer against each other, checked with kcat (an
// independent Kafka client): what is produced arrives once, keys and headers
// intact; faults (broker down, injected errors) lose nothing; bad settings
// and unreachable brokers give clear errors. Runs in-process on loopback.
#include "ingest/kafka_broker.h"
#include "ingest/kafka_producer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/testutil/test_util.h"

namespace faultline::ingest {
namespace {

// Broker options in one expression (designated initializers would warn about
// the members left out).
BrokerOptions Options(int brokers, int partitions, std::vector<std::string> topics,
                      int port = 0) {
  BrokerOptions options;
  options.brokers = brokers;
  options.partitions = partitions;
  options.topics = std::move(topics);
  options.port = port;
  return options;
}

class KafkaTest : public ::testing::Test {
 protected:
  void StartBroker(BrokerOptions options) {
    Result<std::unique_ptr<EmbeddedBroker>> broker = EmbeddedBroker::Start(options);
    ASSERT_TRUE(broker.ok()) << broker.status().ToString();
    broker_ = std::move(*broker);
  }
  std::unique_ptr<KafkaProducer> Producer(KeyValues properties = {}) {
    ProducerOptions options;
    options.bootstrap_servers = broker_->bootstrap_servers();
    options.properties = std::move(properties);
    Result<std::unique_ptr<KafkaProducer>> producer = KafkaProducer::Create(options);
    EXPECT_TRUE(producer.ok()) << producer.status().ToString();
    return producer.ok() ? std::move(*producer) : nullptr;
  }

  std::unique_ptr<EmbeddedBroker> broker_;
};

TEST_F(KafkaTest, BrokerStartsWithTopicsAndReportsBootstrap) {
  StartBroker(Options(3, 5, {"a", "b.c"}));
  EXPECT_EQ(broker_->bootstrap_servers().rfind("127.0.0.1:", 0), 0u) << broker_->bootstrap_servers();
  EXPECT_EQ(testing::SplitLines(broker_->bootstrap_servers()).size(), 1u);
  auto producer = Producer();
  ASSERT_NE(producer, nullptr);
  Result<int> partitions = producer->PartitionCount("b.c", 10000);
  ASSERT_TRUE(partitions.ok()) << partitions.status().ToString();
  EXPECT_EQ(*partitions, 5);
  EXPECT_EQ(broker_->CreateTopic("a", 2).code(), StatusCode::kInvalidArgument);
  EXPECT_OK(broker_->CreateTopic("fresh", 2));
}

TEST_F(KafkaTest, RejectsBadBrokerOptions) {
  EXPECT_EQ(EmbeddedBroker::Start(Options(4, 8, {})).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(EmbeddedBroker::Start(Options(1, 0, {})).status().code(),
            StatusCode::kInvalidArgument);
  Status bad_topic = EmbeddedBroker::Start(Options(1, 8, {"no spaces"})).status();
  EXPECT_EQ(bad_topic.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_topic.message().find("no spaces"), std::string::npos) << bad_topic.ToString();
  StartBroker(Options(1, 8, {}));
  EXPECT_EQ(broker_->SetBrokerDown(2).code(), StatusCode::kInvalidArgument);
}

TEST_F(KafkaTest, ProducedMessagesArriveOnceWithKeysAndHeaders) {
  StartBroker(Options(1, 4, {"logs"}));
  auto producer = Producer();
  ASSERT_NE(producer, nullptr);
  constexpr int kMessages = 2000;
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_OK(producer->Produce("logs", "svc" + std::to_string(i % 7), "line " + std::to_string(i),
                                {{"source", "test"}, {"n", std::to_string(i)}}));
  }
  ASSERT_OK(producer->Flush(30000));
  ProducerCounters c = producer->counters();
  EXPECT_EQ(c.produced, uint64_t{kMessages});
  EXPECT_EQ(c.delivered, uint64_t{kMessages});
  EXPECT_EQ(c.failed, 0u);

  std::vector<std::string> got =
      testing::KcatConsume(broker_->bootstrap_servers(), "logs", "%k|%s|%h|%p\n");
  ASSERT_EQ(got.size(), size_t{kMessages});
  std::set<std::string> unique;
  std::map<std::string, std::set<std::string>> partitions_by_key;
  for (const std::string& line : got) {
    std::vector<std::string> parts;
    std::stringstream in(line);
    std::string part;
    while (std::getline(in, part, '|')) parts.push_back(part);
    ASSERT_EQ(parts.size(), 4u) << line;
    const int n = std::stoi(parts[1].substr(5));
    EXPECT_EQ(parts[0], "svc" + std::to_string(n % 7)) << line;
    EXPECT_EQ(parts[2], "source=test,n=" + std::to_string(n)) << line;
    unique.insert(parts[1]);
    partitions_by_key[parts[0]].insert(parts[3]);
  }
  EXPECT_EQ(unique.size(), size_t{kMessages});
  for (const auto& [key, partitions] : partitions_by_key) {
    EXPECT_EQ(partitions.size(), 1u) << key << " is spread over partitions";
  }
}

TEST_F(KafkaTest, BrokerDownAndUpWhileProducingLosesNothing) {
  StartBroker(Options(1, 2, {"t"}));
  auto producer = Producer();
  ASSERT_NE(producer, nullptr);
  ASSERT_TRUE(producer->PartitionCount("t", 10000).ok());
  constexpr int kMessages = 6000;
  for (int i = 0; i < kMessages; ++i) {
    if (i == 2000) ASSERT_OK(broker_->SetBrokerDown(1));
    if (i == 4000) {
      // Messages 2000..3999 wait in the producer while the broker is down.
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      ASSERT_OK(broker_->SetBrokerUp(1));
    }
    ASSERT_OK(producer->Produce("t", "k" + std::to_string(i % 3), "m" + std::to_string(i)));
  }
  ASSERT_OK(producer->Flush(30000));
  EXPECT_EQ(producer->counters().delivered, uint64_t{kMessages});
  std::vector<std::string> got = testing::KcatConsume(broker_->bootstrap_servers(), "t", "%s\n");
  EXPECT_EQ(got.size(), size_t{kMessages});
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()).size(), size_t{kMessages})
      << "duplicates despite the idempotent producer";
}

TEST_F(KafkaTest, InjectedProduceErrorsAreRetried) {
  StartBroker(Options(1, 1, {"t"}));
  auto producer = Producer();
  ASSERT_NE(producer, nullptr);
  ASSERT_TRUE(producer->PartitionCount("t", 10000).ok());
  broker_->PushRequestErrors(KafkaApi::kProduce,
                             {KafkaError::kNotLeaderForPartition, KafkaError::kRequestTimedOut,
                              KafkaError::kDisconnect});
  for (int i = 0; i < 100; ++i) ASSERT_OK(producer->Produce("t", "", "m" + std::to_string(i)));
  ASSERT_OK(producer->Flush(30000));
  std::vector<std::string> got = testing::KcatConsume(broker_->bootstrap_servers(), "t", "%s\n");
  ASSERT_EQ(got.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(got[static_cast<size_t>(i)], "m" + std::to_string(i));
}

TEST_F(KafkaTest, FixedPortRelaysToTheBrokers) {
  const int port = testing::FreeLoopbackPort();
  StartBroker(Options(2, 3, {"t"}, port));
  EXPECT_EQ(broker_->bootstrap_servers(), "127.0.0.1:" + std::to_string(port));
  auto producer = Producer();
  ASSERT_NE(producer, nullptr);
  for (int i = 0; i < 50; ++i) ASSERT_OK(producer->Produce("t", "k", "m" + std::to_string(i)));
  ASSERT_OK(producer->Flush(30000));
  EXPECT_EQ(testing::KcatConsume(broker_->bootstrap_servers(), "t", "%s\n").size(), 50u);

  // The port is taken now: a second broker on it fails clearly.
  Result<std::unique_ptr<EmbeddedBroker>> second =
      EmbeddedBroker::Start(Options(1, 1, {"t"}, port));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kIOError);
  EXPECT_NE(second.status().message().find(std::to_string(port)), std::string::npos)
      << second.status().ToString();
}

TEST_F(KafkaTest, BadPropertyOrTopicIsAClearError) {
  ProducerOptions options;
  options.bootstrap_servers = "127.0.0.1:9";
  options.properties = {{"linger.ms", "5"}, {"no.such.property", "1"}};
  Status unknown = KafkaProducer::Create(options).status();
  EXPECT_EQ(unknown.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.message().find("no.such.property"), std::string::npos) << unknown.ToString();

  options.properties = {{"acks", "banana"}};
  Status bad_value = KafkaProducer::Create(options).status();
  EXPECT_EQ(bad_value.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_value.message().find("acks=banana"), std::string::npos) << bad_value.ToString();

  // A misspelt secret is named, but its value is not shown.
  options.properties = {{"sasl.passwd.password", "hunter2"}};
  Status secret = KafkaProducer::Create(options).status();
  EXPECT_EQ(secret.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(secret.message().find("sasl.passwd.password"), std::string::npos) << secret.ToString();
  EXPECT_EQ(secret.message().find("hunter2"), std::string::npos) << secret.ToString();

  options.properties.clear();
  Result<std::unique_ptr<KafkaProducer>> producer = KafkaProducer::Create(options);
  ASSERT_TRUE(producer.ok());
  EXPECT_EQ((*producer)->Produce("a/b", "", "v").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*producer)->counters().produced, 0u);

  options.bootstrap_servers.clear();
  options.properties.clear();
  EXPECT_EQ(KafkaProducer::Create(options).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(KafkaTest, UnreachableBrokerIsReportedAndUndeliveredMessagesCounted) {
  ProducerOptions options;
  options.bootstrap_servers = "127.0.0.1:" + std::to_string(testing::FreeLoopbackPort());
  options.properties = {{"message.timeout.ms", "1500"}};
  Result<std::unique_ptr<KafkaProducer>> producer = KafkaProducer::Create(options);
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  Result<int> partitions = (*producer)->PartitionCount("t", 1000);
  ASSERT_FALSE(partitions.ok());
  EXPECT_EQ(partitions.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(partitions.status().message().find(options.bootstrap_servers), std::string::npos)
      << partitions.status().ToString();

  ASSERT_OK((*producer)->Produce("t", "k", "lost"));
  Status flushed = (*producer)->Flush(10000);
  EXPECT_EQ(flushed.code(), StatusCode::kUnavailable);
  EXPECT_NE(flushed.message().find("1 of 1 message(s) failed"), std::string::npos)
      << flushed.ToString();
  ProducerCounters c = (*producer)->counters();
  EXPECT_EQ(c.failed, 1u);
  EXPECT_EQ(c.in_flight(), 0u);
  EXPECT_NE(c.last_error.find("timed out"), std::string::npos) << c.last_error;
}

TEST_F(KafkaTest, MissingTopicIsNotFound) {
  StartBroker(Options(1, 2, {"present"}));
  // The mock creates any topic asked for; this makes it answer as a broker
  // without auto-creation does.
  broker_->SetTopicError("absent", KafkaError::kUnknownTopicOrPartition);
  auto producer = Producer();
  ASSERT_NE(producer, nullptr);
  Result<int> missing = producer->PartitionCount("absent", 10000);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().ToString();
  EXPECT_NE(missing.status().message().find("'absent'"), std::string::npos);
  EXPECT_TRUE(producer->PartitionCount("present", 10000).ok());
}

}  // namespace
}  // namespace faultline::ingest
