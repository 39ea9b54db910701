// `faultline broker` and `faultline produce` run as a user would: the broker
// as a child process, produce and kcat (an independent Kafka client) against
// it. Checks that every line arrives exactly once, that one service's records
// share a partition, that kcat can produce too, that errors are clear, and
// that SIGTERM stops the broker with exit code 0.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/testutil/child_process.h"
#include "tests/testutil/test_util.h"

namespace faultline {
namespace {

using testing::CommandResult;
using testing::RunCommand;
using testing::ShellQuote;

std::string Fl() { return ShellQuote(testing::FaultlineBinary()); }

class KafkaCliTest : public ::testing::Test {
 protected:
  // Starts `faultline broker ARGS` and reads its bootstrap address.
  void StartBroker(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {testing::FaultlineBinary(), "broker"};
    argv.insert(argv.end(), args.begin(), args.end());
    broker_ = std::make_unique<testing::ChildProcess>(argv, dir_.Sub("broker.out"),
                                                      dir_.Sub("broker.err"));
    ASSERT_TRUE(broker_->started());
    std::string line;
    testing::WaitFor(
        [&] {
          line = testing::ReadFile(dir_.Sub("broker.out"));
          return line.find('\n') != std::string::npos || !broker_->Running();
        },
        std::chrono::seconds(15));
    line = line.substr(0, line.find('\n'));
    ASSERT_EQ(line.rfind("bootstrap: 127.0.0.1:", 0), 0u)
        << "first line: '" << line << "'; stderr: " << BrokerStderr();
    bootstrap_ = line.substr(std::string("bootstrap: ").size());
  }

  std::string BrokerStderr() const { return testing::ReadFile(dir_.Sub("broker.err")); }

  void StopBrokerExpectingExitZero() {
    broker_->Signal(SIGTERM);
    EXPECT_EQ(broker_->Wait(std::chrono::seconds(10)), 0) << BrokerStderr();
  }

  std::vector<std::string> Consume(const std::string& topic, const std::string& format) {
    return testing::KcatConsume(bootstrap_, topic, format);
  }

  CommandResult Produce(const std::string& args) {
    return RunCommand(Fl() + " produce --brokers " + ShellQuote(bootstrap_) + " " + args);
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::ChildProcess> broker_;
  std::string bootstrap_;
};

TEST_F(KafkaCliTest, ProducesEveryLineOnceAndKeepsEachServiceInOnePartition) {
  ASSERT_NO_FATAL_FAILURE(StartBroker({"--partitions", "4", "--topic", "logs"}));
  // 20k lines: JSON records of five services, and plain-text lines that take
  // the file's service ("web", from web.log) as their key.
  const std::vector<std::string> services = {"api", "db", "cache", "auth", "billing"};
  std::string text;
  constexpr int kLines = 20000;
  for (int i = 0; i < kLines; ++i) {
    if (i % 10 == 9) {
      text += "2024-05-01 12:00:00,000 INFO plain line " + std::to_string(i) + "\n";
    } else {
      text += "{\"ts\":\"2024-05-01T12:00:00Z\",\"level\":\"info\",\"service\":\"" +
              services[static_cast<size_t>(i) % services.size()] + "\",\"msg\":\"line " +
              std::to_string(i) + "\"}\n";
    }
    if (i == 100) text += "\n";  // empty lines are skipped, not sent
  }
  const std::string file = dir_.Sub("web.log");
  testing::WriteFile(file, text);

  CommandResult r = Produce("--topic logs " + ShellQuote(file));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("produced 20000 records"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("20000 delivered, 0 failed; 1 empty lines skipped"), std::string::npos)
      << r.out;

  std::vector<std::string> got = Consume("logs", "%p %k %s\n");
  ASSERT_EQ(got.size(), size_t{kLines});
  std::map<std::string, std::set<std::string>> partitions_by_key;
  std::set<std::string> partitions;
  std::set<std::string> payloads;
  for (const std::string& line : got) {
    std::stringstream in(line);
    std::string partition;
    std::string key;
    in >> partition >> key;
    const std::string payload = line.substr(partition.size() + key.size() + 2);
    const bool json = payload.front() == '{';
    if (json) {
      EXPECT_NE(payload.find("\"service\":\"" + key + "\""), std::string::npos) << line;
    } else {
      EXPECT_EQ(key, "web") << line;
    }
    partitions_by_key[key].insert(partition);
    partitions.insert(partition);
    payloads.insert(payload);
  }
  EXPECT_EQ(payloads.size(), size_t{kLines}) << "duplicates";
  EXPECT_EQ(partitions_by_key.size(), 6u);
  for (const auto& [key, in] : partitions_by_key) {
    EXPECT_EQ(in.size(), 1u) << "service " << key << " is spread over partitions";
  }
  EXPECT_GT(partitions.size(), 1u) << "all services hashed to one partition";
  StopBrokerExpectingExitZero();
}

TEST_F(KafkaCliTest, KcatAndStdinProduceToTheBroker) {
  ASSERT_NO_FATAL_FAILURE(StartBroker({"--partitions", "2", "--topic", "kc", "--topic", "stdin"}));
  CommandResult kcat = RunCommand("printf 'a:one\\nb:two\\na:three\\n' | kcat -P -b " +
                                  ShellQuote(bootstrap_) + " -t kc -K:");
  ASSERT_EQ(kcat.exit_code, 0) << kcat.err;
  std::vector<std::string> got = Consume("kc", "%k=%s\n");
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()),
            (std::set<std::string>{"a=one", "b=two", "a=three"}));

  CommandResult piped = RunCommand("printf 'x\\ny\\n' | " + Fl() + " produce --brokers " +
                                   ShellQuote(bootstrap_) +
                                   " --topic stdin --key fixed -H origin=test -");
  ASSERT_EQ(piped.exit_code, 0) << piped.out << piped.err;
  EXPECT_EQ(Consume("stdin", "%k %s %h\n"),
            (std::vector<std::string>{"fixed x origin=test", "fixed y origin=test"}));

  // A line too long to send is counted as failed, and the exit code says so.
  const std::string file = dir_.Sub("long.log");
  testing::WriteFile(file, "a\n" + std::string(1100000, 'x') + "\nb\n");
  CommandResult long_line = Produce("--topic stdin " + ShellQuote(file));
  EXPECT_EQ(long_line.exit_code, 1);
  EXPECT_NE(long_line.out.find("produced 3 records"), std::string::npos) << long_line.out;
  EXPECT_NE(long_line.out.find("2 delivered, 1 failed"), std::string::npos) << long_line.out;
  EXPECT_NE(long_line.err.find("1 line(s) not sent"), std::string::npos) << long_line.err;
  StopBrokerExpectingExitZero();
}

TEST_F(KafkaCliTest, FixedPortAndReadyFileAndSigtermExitsZero) {
  const int port = testing::FreeLoopbackPort();
  const std::string ready = dir_.Sub("ready");
  ASSERT_NO_FATAL_FAILURE(StartBroker({"--port", std::to_string(port), "--brokers", "2", "--ready-file", ready}));
  EXPECT_EQ(bootstrap_, "127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(testing::ReadFile(ready), bootstrap_ + "\n");
  // A topic nobody created is created on first use.
  ASSERT_EQ(RunCommand("echo hello | kcat -P -b " + ShellQuote(bootstrap_) + " -t auto").exit_code,
            0);
  EXPECT_EQ(Consume("auto", "%s\n"), std::vector<std::string>{"hello"});
  StopBrokerExpectingExitZero();
  EXPECT_FALSE(std::filesystem::exists(ready)) << "stale ready file left behind";
  EXPECT_NE(BrokerStderr().find("broker stopped"), std::string::npos) << BrokerStderr();
}

TEST_F(KafkaCliTest, ErrorsAreClear) {
  // Nothing listens here: a quick, clear failure naming the address.
  bootstrap_ = "127.0.0.1:" + std::to_string(testing::FreeLoopbackPort());
  const std::string file = dir_.Sub("a.log");
  testing::WriteFile(file, "line\n");
  CommandResult unreachable = Produce("--topic logs " + ShellQuote(file));
  EXPECT_EQ(unreachable.exit_code, 1);
  EXPECT_NE(unreachable.err.find("cannot reach any Kafka broker at " + bootstrap_),
            std::string::npos)
      << unreachable.err;

  CommandResult missing = Produce("--topic logs " + ShellQuote(dir_.Sub("nope.log")));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("nope.log"), std::string::npos) << missing.err;

  CommandResult property = Produce("--topic logs -X no.such.thing=1 " + ShellQuote(file));
  EXPECT_EQ(property.exit_code, 2);
  EXPECT_NE(property.err.find("no.such.thing"), std::string::npos) << property.err;

  CommandResult topic = Produce("--topic 'no spaces' " + ShellQuote(file));
  EXPECT_EQ(topic.exit_code, 2);
  EXPECT_NE(topic.err.find("bad topic name 'no spaces'"), std::string::npos) << topic.err;

  CommandResult both = Produce("--topic logs --key k --no-key " + ShellQuote(file));
  EXPECT_EQ(both.exit_code, 2) << both.err;

  CommandResult help = RunCommand(Fl() + " produce --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("Examples:"), std::string::npos) << help.out;
  CommandResult broker_help = RunCommand(Fl() + " broker --help");
  EXPECT_NE(broker_help.out.find("--ready-file"), std::string::npos) << broker_help.out;
}

}  // namespace
}  // namespace faultline
