// KafkaProducer: sends messages to Kafka through librdkafka, and accounts for
// every one of them: each message handed to Produce() ends up delivered or
// failed (with the error), and Flush() says when any are neither yet.
// Used by `faultline produce`, by tests, and by anything in faultline that
// writes to Kafka.
//
// Defaults, each overridable through ProducerOptions::properties:
// - enable.idempotence=true: retries after a lost connection or a broker
//   restart never duplicate or reorder a partition's messages (librdkafka's
//   mock broker supports it too, so it stays on everywhere).
// - partitioner=murmur2_random: a key lands in the same partition as with the
//   Java client (and Kafka Streams, Connect, ...), so that all producers of a
//   topic agree; messages without a key are spread at random.
//
// librdkafka's log lines of level warning and above go to stderr, prefixed
// "faultline: kafka:"; its debug output never does.
//
// Thread-safety: Produce, Poll and Flush are for one thread at a time;
// counters() may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace faultline::ingest {

// Kafka properties or message headers, in order: (name, value).
using KeyValues = std::vector<std::pair<std::string, std::string>>;

struct ProducerOptions {
  // bootstrap.servers: "host:port[,host:port...]". Required.
  std::string bootstrap_servers;
  // librdkafka properties (CONFIGURATION.md), set after faultline's defaults
  // and so overriding them. An unknown name or a bad value fails Create()
  // with a Status naming the property (and its value, unless the name looks
  // like a secret's: password, secret, token, pem, jaas).
  KeyValues properties;
  // How long Produce() waits for room each time librdkafka's local queue is
  // full (queue.buffering.max.messages / .kbytes) before trying again; it
  // serves delivery reports meanwhile. 100 ms: short next to a batch's
  // round trip, long enough not to spin.
  int queue_full_wait_ms = 100;
  // Optional. When it becomes true (e.g. set by a SIGINT handler), a
  // Produce() waiting for queue room gives up with kUnavailable. Must outlive
  // the producer.
  const std::atomic<bool>* interrupted = nullptr;

  Status Validate() const;
};

// Counts since the producer was created. Every produced message is, at any
// time, exactly one of delivered, failed or in flight.
struct ProducerCounters {
  uint64_t produced = 0;   // accepted by Produce()
  uint64_t delivered = 0;  // acknowledged by the brokers
  uint64_t failed = 0;     // given up on by librdkafka (retries exhausted, timeout, ...)
  uint64_t queue_full_waits = 0;  // times Produce() waited for queue room
  // The latest failed delivery, e.g. "topic logs [3]: Local: Message timed
  // out"; empty if none. (Transient client errors, such as a lost
  // connection that librdkafka retries, are logged, not recorded here.)
  std::string last_error;

  uint64_t in_flight() const { return produced - delivered - failed; }
};

// Lifecycle: Create() -> Produce()... -> Flush() -> destroy. Destroying it
// with messages in flight waits for them no more (they count as lost: call
// Flush() first). Not copyable.
class KafkaProducer {
 public:
  // Fails with kInvalidArgument for bad options or properties (the message
  // names the property and librdkafka's reason), kInternal if librdkafka
  // cannot create the client. Does not contact the brokers (see
  // PartitionCount for that).
  static Result<std::unique_ptr<KafkaProducer>> Create(const ProducerOptions& options);

  ~KafkaProducer();
  KafkaProducer(const KafkaProducer&) = delete;
  KafkaProducer& operator=(const KafkaProducer&) = delete;

  // Asks the brokers for `topic` and returns its partition count: a cheap
  // check that the brokers can be reached and the topic exists, before
  // sending anything. A broker that auto-creates topics creates it now.
  // kUnavailable when no broker answers within `timeout_ms` (the message
  // names the bootstrap servers), kNotFound when the topic does not exist,
  // kInvalidArgument for a bad topic name.
  // Blocks up to `timeout_ms`.
  Result<int> PartitionCount(const std::string& topic, int timeout_ms);

  // Queues one message. An empty `key` sends no key (the partitioner then
  // picks a random partition). Key, value and headers are copied.
  // When the local queue is full it serves delivery reports and retries
  // until there is room (blocking), so nothing is dropped; it gives up only
  // when ProducerOptions::interrupted is set (kUnavailable).
  // Other failures, decided at once and not counted as produced:
  // kInvalidArgument (bad topic name, message larger than
  // message.max.bytes), kNotFound (topic known not to exist), kInternal (the
  // producer hit a fatal error, e.g. an idempotence violation).
  Status Produce(std::string_view topic, std::string_view key, std::string_view value,
                 const KeyValues& headers = {});

  // Serves delivery reports, waiting up to `timeout_ms` for one (0: don't
  // wait). Produce() also serves them; call this while idle (e.g. during
  // rate limiting) so the counters stay current.
  void Poll(int timeout_ms);

  // Waits up to `timeout_ms` until every produced message is delivered or
  // failed. OK only if none is in flight and none has failed since Create():
  // kUnavailable "N message(s) still in flight ..." or "N of M message(s)
  // failed delivery; last error: ...". Blocks.
  Status Flush(int timeout_ms);

  ProducerCounters counters() const;

 private:
  struct Impl;
  explicit KafkaProducer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Kafka's rule for topic names: 1 to 249 characters of a-z A-Z 0-9 . _ -,
// and not "." or "..". kInvalidArgument naming the topic otherwise. (Brokers
// enforce it; the mock broker does not, so clients check it themselves.)
Status ValidateTopicName(std::string_view topic);

}  // namespace faultline::ingest
