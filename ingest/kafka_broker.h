// EmbeddedBroker: a Kafka-protocol broker inside this process, for the demo
// (`faultline broker`) and for integration tests. It is librdkafka's mock
// cluster (rdkafka_mock.h), which real clients (faultline's own, kcat, any
// Kafka client) talk to over TCP like to any broker. Nothing here is needed to
// run against a real Kafka cluster.
//
// What the mock does and does not do (librdkafka 2.0.2, measured or read in
// its source):
// - 1..3 brokers, each listening on 127.0.0.1 at a port the kernel picks. The
//   mock has no API to choose that port. With BrokerOptions::port set, a small
//   TCP relay of ours listens on 127.0.0.1:port and forwards each connection
//   to the brokers in turn (skipping any that is down); clients bootstrap
//   through it and then connect to the brokers' own (advertised,
//   random-port) addresses, as they would with a real cluster. So only the
//   bootstrap address is fixed, and only loopback clients can use the broker.
// - Topics in BrokerOptions::topics are created with BrokerOptions::partitions
//   partitions. A topic a client asks for that does not exist yet is created
//   on the fly with 4 partitions: the mock hard-codes that number and offers
//   no way to change it, so pre-create topics whose partition count matters.
// - Each partition keeps only about 5 MiB or 100k message sets; older data is
//   dropped. Consume while producing when moving more than that.
// - Supports produce (idempotent too), fetch, consumer groups and offset
//   commits; no CreateTopics admin request, no ACLs, no TLS/SASL.
//
// Thread-safety: all methods may be called from any thread (the mock applies
// changes on its own thread). Start() blocks until the brokers listen.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace faultline::ingest {

// Kafka protocol request types (the protocol's API keys), for fault injection.
enum class KafkaApi : int16_t {
  kProduce = 0,
  kFetch = 1,
  kListOffsets = 2,
  kMetadata = 3,
  kOffsetCommit = 8,
  kOffsetFetch = 9,
  kFindCoordinator = 10,
  kJoinGroup = 11,
  kHeartbeat = 12,
  kLeaveGroup = 13,
  kSyncGroup = 14,
  kApiVersions = 18,
  kInitProducerId = 22,
};

// Error codes a faked response can carry: Kafka protocol error codes, plus
// kDisconnect, which makes the broker close the connection instead of
// answering. Any other protocol code may be passed with static_cast.
enum class KafkaError : int {
  kNone = 0,
  kOffsetOutOfRange = 1,
  kCorruptMessage = 2,
  kUnknownTopicOrPartition = 3,
  kLeaderNotAvailable = 5,
  kNotLeaderForPartition = 6,
  kRequestTimedOut = 7,
  kNetworkException = 13,
  kCoordinatorLoadInProgress = 14,
  kCoordinatorNotAvailable = 15,
  kNotCoordinator = 16,
  kNotEnoughReplicas = 19,
  kNotEnoughReplicasAfterAppend = 20,
  kRebalanceInProgress = 27,
  kDisconnect = -195,  // librdkafka's local "transport" error
};

struct BrokerOptions {
  // Brokers in the cluster, ids 1..brokers. 1 suffices for the demo; 3 lets
  // tests take one down while the others serve.
  int brokers = 1;
  // Partitions of each topic in `topics`. 8 lets up to 8 consumers of one
  // group share a topic, and spreads services over partitions.
  int partitions = 8;
  // Topics created at start.
  std::vector<std::string> topics;
  // Fixed bootstrap port on 127.0.0.1 (a relay, see the file comment), or 0
  // for none: bootstrap_servers() then lists the brokers' own random ports.
  int port = 0;

  // Checks ranges: brokers 1..3, partitions 1..10000, port 0..65535, topic
  // names as Kafka allows them ([a-zA-Z0-9._-], at most 249 characters).
  Status Validate() const;
};

// Lifecycle: Start() -> use bootstrap_servers() -> Stop() (or destroy).
// Owns the librdkafka handle the mock cluster lives in, the cluster and the
// relay thread. Not copyable.
class EmbeddedBroker {
 public:
  // Starts the cluster and creates the topics. Fails with kInvalidArgument
  // for bad options, kIOError when the relay port cannot be bound (e.g. it is
  // in use), kInternal when librdkafka cannot create the cluster.
  static Result<std::unique_ptr<EmbeddedBroker>> Start(const BrokerOptions& options);

  ~EmbeddedBroker();  // Stop()s
  EmbeddedBroker(const EmbeddedBroker&) = delete;
  EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;

  // What clients put in bootstrap.servers: "127.0.0.1:PORT" with a fixed
  // port, else the brokers' "127.0.0.1:P1,127.0.0.1:P2,...".
  const std::string& bootstrap_servers() const;

  // Creates `topic` with `partitions` partitions. kInvalidArgument if the
  // topic exists already or the name or count is bad.
  Status CreateTopic(const std::string& topic, int partitions);

  // Fault injection. A down broker drops its connections and refuses new
  // ones; leadership does not move, as when a real broker is unreachable.
  // kInvalidArgument for an unknown id.
  Status SetBrokerDown(int broker_id);
  Status SetBrokerUp(int broker_id);
  // Delays every response of a broker by `rtt_ms` (0 clears).
  Status SetBrokerRtt(int broker_id, int rtt_ms);
  // The next errors.size() requests of type `api` (to any broker) get these
  // errors, in order, instead of being served.
  void PushRequestErrors(KafkaApi api, const std::vector<KafkaError>& errors);
  // Metadata requests for `topic` answer with `error` until cleared with
  // kNone; kUnknownTopicOrPartition plays a topic that does not exist.
  void SetTopicError(const std::string& topic, KafkaError error);

  // Closes the relay and destroys the cluster: clients see their
  // connections drop. Idempotent. Blocks until the threads have exited.
  void Stop();

 private:
  struct Impl;
  explicit EmbeddedBroker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace faultline::ingest
