// KafkaConsumer: a consumer-group member that hands out batches of messages
// and lets its owner decide where each assigned partition starts.
//
// The store, not Kafka, is the truth about what has been read: on every
// assignment the owner's RebalanceListener is asked for each partition's
// start offset (the store's position), and before partitions are taken away
// it is told so it can flush and persist what it consumed from them. Offsets
// are committed to Kafka only when the owner says so (after its store write),
// for lag tools and for other group members taking a partition over.
// `enable.auto.commit` and `enable.auto.offset.store` are always off.
//
// Works unchanged against a real Kafka cluster and the embedded broker.
//
// Thread-safety: Poll, Pause/Resume, Commit and Close are called from one
// thread (the pipeline's input stage). Listener callbacks run on that thread,
// inside Poll or Close. Lag() may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace faultline::ingest {

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  bool operator==(const TopicPartition&) const = default;
};

// A partition and an offset: where to start, or the next offset to read.
struct PartitionOffset {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = -1;  // kOffsetUnset: let Kafka decide (committed, then auto.offset.reset)
};

inline constexpr int64_t kOffsetUnset = -1;

class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;
  // `partitions` are being assigned; set each one's start offset (or leave
  // kOffsetUnset). `committed` holds the group's committed offsets for them
  // (kOffsetUnset where none), fetched before the call.
  virtual void OnAssign(std::vector<PartitionOffset>* partitions,
                        const std::vector<PartitionOffset>& committed) = 0;
  // `partitions` are being taken away: everything consumed from them must be
  // stored before this returns. Offsets committed here reach the next owner.
  virtual void OnRevoke(const std::vector<TopicPartition>& partitions) = 0;
};

struct KafkaConsumerOptions {
  std::string brokers;              // host:port[,host:port...]
  std::vector<std::string> topics;
  std::string group = "faultline";
  std::string client_id = "faultline";
  // librdkafka properties, applied last (the config file's [kafka] table).
  std::vector<std::pair<std::string, std::string>> properties;
  // When an assignment brings partitions this member did not hold just
  // before, it waits this long before reading their committed offsets: the
  // previous owner may still be committing its hand-over offsets (it retries
  // them once back in the group if the broker refused them mid-rebalance).
  int takeover_grace_ms = 1000;
};

// One consumed message; views valid while its KafkaMessages lives.
struct KafkaMessage {
  std::string_view topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp_ms = -1;  // -1 when the message has none
  std::string_view key;
  std::string_view value;
};

// A batch of consumed messages. Owns librdkafka's buffers; move-only.
class KafkaMessages {
 public:
  KafkaMessages();
  ~KafkaMessages();
  KafkaMessages(KafkaMessages&&) noexcept;
  KafkaMessages& operator=(KafkaMessages&&) noexcept;

  size_t size() const;
  bool empty() const { return size() == 0; }
  KafkaMessage operator[](size_t i) const;
  uint64_t bytes() const;  // key + value bytes

 private:
  friend class KafkaConsumer;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Consumer lag of one assigned partition, from librdkafka's cached
// watermarks (no network round trip).
struct PartitionLag {
  std::string topic;
  int32_t partition = 0;
  int64_t position = -1;    // next offset this consumer will read; -1 unknown
  int64_t high_watermark = -1;
  int64_t lag = -1;         // high watermark - position, -1 when unknown
};

class KafkaConsumer {
 public:
  // Validates the properties (errors name the property) and subscribes.
  // `listener` must outlive the consumer.
  static Result<std::unique_ptr<KafkaConsumer>> Create(const KafkaConsumerOptions& options,
                                                       RebalanceListener* listener);
  ~KafkaConsumer();
  KafkaConsumer(const KafkaConsumer&) = delete;
  KafkaConsumer& operator=(const KafkaConsumer&) = delete;

  // Up to `max_messages` messages or about `max_bytes`, waiting at most
  // `timeout_ms` for the first and then only taking what is already
  // fetched. Transient broker errors are logged (rate-limited) and counted,
  // not returned; a fatal client error is.
  Result<KafkaMessages> Poll(size_t max_messages, size_t max_bytes, int timeout_ms);

  // Stops or restarts fetching every assigned partition (backpressure).
  void PauseAll();
  void ResumeAll();
  bool paused() const;

  // Commits next-offsets asynchronously (sync = wait for the broker).
  Status Commit(const std::vector<PartitionOffset>& offsets, bool sync);

  std::vector<TopicPartition> Assignment() const;
  std::vector<PartitionLag> Lag() const;
  // Errors seen since creation (transport, broker down...), for metrics.
  uint64_t transient_errors() const;

  // Leaves the group (the listener's OnRevoke runs first). Idempotent.
  Status Close();

 private:
  KafkaConsumer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace faultline::ingest
