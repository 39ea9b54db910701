// `faultline broker` and `faultline produce`: an embedded Kafka-protocol
// broker for demos and tests, and a producer that sends log files to Kafka
// one line per message. tools/cli.cc adds them with Add*Command and, once
// parsed, runs them with Run*Command.
//
// Exit codes follow tools/cli.h: 0 success; 1 an error (one line on stderr,
// or for produce: any message not delivered); 2 bad usage.
// Both commands stop when `interrupted` becomes true (cli.cc's SIGINT/SIGTERM
// flag): broker exits 0, produce flushes what it queued, prints its summary
// and exits 1 (not everything was sent).
#pragma once

#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace CLI {
class App;
}  // namespace CLI

namespace faultline::tools {

struct BrokerCommandOptions {
  int port = 0;        // fixed bootstrap port (a relay); 0: the mock's own ports
  int partitions = 8;  // of each --topic
  int brokers = 1;     // brokers in the mock cluster, 1..3
  std::vector<std::string> topics;
  std::string ready_file;  // written (atomically) with the bootstrap address
};

// Appends each "name=value" of `items` to `out`; InvalidArgument naming
// `flag` for an item without a name or '='. For --property and --header.
Status ParseKeyValues(const std::vector<std::string>& items, const char* flag,
                      std::vector<std::pair<std::string, std::string>>* out);

// Adds the `broker` subcommand to `app`, its flags bound to `options`
// (which must outlive parsing). Returns the subcommand.
CLI::App* AddBrokerCommand(CLI::App* app, BrokerCommandOptions* options);

// Starts the broker, prints "bootstrap: ADDRESS" on stdout (flushed), and
// serves until `interrupted`. Blocks.
int RunBrokerCommand(const BrokerCommandOptions& options, const std::atomic<bool>& interrupted);

struct ProduceCommandOptions {
  std::string brokers;  // bootstrap servers, host:port[,host:port...]
  std::string topic;
  std::string key;             // the same key for every message
  bool key_by_service = false; // the default; the flag only says it
  bool no_key = false;         // no key: messages spread over partitions
  double rate = 0;             // messages per second; 0: as fast as possible
  std::vector<std::string> properties;  // librdkafka properties, name=value
  std::vector<std::string> headers;     // headers for every message, name=value
  bool quiet = false;                   // no progress, no summary
  std::vector<std::string> files;       // "-" is stdin
};

// Adds the `produce` subcommand to `app`, its flags bound to `options`.
CLI::App* AddProduceCommand(CLI::App* app, ProduceCommandOptions* options);

// Sends every non-empty line of every file as one message, then waits until
// all are delivered or failed and prints a summary line. Blocks.
int RunProduceCommand(const ProduceCommandOptions& options, const std::atomic<bool>& interrupted);

}  // namespace faultline::tools
