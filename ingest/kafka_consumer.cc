#include "ingest/kafka_consumer.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <mutex>
#include <thread>

namespace faultline::ingest {

namespace {

// librdkafka's defaults that faultline changes, before the user's own
// properties (which win).
//  - Offsets are committed only after the store write: never automatically.
//  - fetch.wait.max.ms: a fetch returns after this long even when short of
//    fetch.min.bytes. librdkafka's 500 ms adds that much latency whenever a
//    partition is quiet, and the embedded broker makes a consumer at the log
//    end fall behind with it. 10 ms costs at most 100 empty fetches a second
//    per broker.
//  - queued.max.messages.kbytes: prefetched data held by the client; 32 MiB
//    bounds memory while keeping the pipeline fed.
//  - auto.offset.reset=earliest: a partition nobody has read starts at its
//    beginning (nothing is skipped).
constexpr std::pair<const char*, const char*> kDefaults[] = {
    {"enable.auto.commit", "false"},        {"enable.auto.offset.store", "false"},
    {"auto.offset.reset", "earliest"},      {"fetch.wait.max.ms", "10"},
    {"queued.max.messages.kbytes", "32768"}, {"enable.partition.eof", "false"},
};
// Properties that would break the store-is-the-truth contract.
constexpr const char* kFixed[] = {"enable.auto.commit", "enable.auto.offset.store",
                                  "group.id", "bootstrap.servers"};

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool Contains(const std::vector<TopicPartition>& list, const TopicPartition& tp) {
  return std::find(list.begin(), list.end(), tp) != list.end();
}

// At most one line a second (all kinds together), with a count of the rest:
// a broker that is down makes librdkafka report the same error many times.
class RateLimitedLog {
 public:
  void Log(const std::string& line) {
    std::scoped_lock lock(mu_);
    const int64_t now = NowMs();
    if (now - last_ms_ < 1000) {
      ++suppressed_;
      return;
    }
    last_ms_ = now;
    if (suppressed_ > 0) {
      std::fprintf(stderr, "faultline: kafka: %s (and %llu more since the last report)\n",
                   line.c_str(), static_cast<unsigned long long>(suppressed_));
    } else {
      std::fprintf(stderr, "faultline: kafka: %s\n", line.c_str());
    }
    suppressed_ = 0;
  }

 private:
  std::mutex mu_;
  int64_t last_ms_ = 0;
  uint64_t suppressed_ = 0;
};

struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    if (list != nullptr) rd_kafka_topic_partition_list_destroy(list);
  }
};
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;

PartitionList MakeList(size_t size_hint) {
  return PartitionList(rd_kafka_topic_partition_list_new(static_cast<int>(size_hint)));
}

}  // namespace

// ---------------------------------------------------------------------------
// KafkaMessages

struct KafkaMessages::Impl {
  std::vector<rd_kafka_message_t*> messages;
  uint64_t bytes = 0;
  ~Impl() {
    for (rd_kafka_message_t* m : messages) rd_kafka_message_destroy(m);
  }
};

KafkaMessages::KafkaMessages() : impl_(std::make_unique<Impl>()) {}
KafkaMessages::~KafkaMessages() = default;
KafkaMessages::KafkaMessages(KafkaMessages&&) noexcept = default;
KafkaMessages& KafkaMessages::operator=(KafkaMessages&&) noexcept = default;

size_t KafkaMessages::size() const { return impl_ == nullptr ? 0 : impl_->messages.size(); }

uint64_t KafkaMessages::bytes() const { return impl_ == nullptr ? 0 : impl_->bytes; }

KafkaMessage KafkaMessages::operator[](size_t i) const {
  const rd_kafka_message_t* m = impl_->messages[i];
  KafkaMessage out;
  out.topic = rd_kafka_topic_name(m->rkt);
  out.partition = m->partition;
  out.offset = m->offset;
  rd_kafka_timestamp_type_t type;
  const int64_t ts = rd_kafka_message_timestamp(m, &type);
  out.timestamp_ms = type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? -1 : ts;
  if (m->key != nullptr) out.key = std::string_view(static_cast<const char*>(m->key), m->key_len);
  if (m->payload != nullptr) {
    out.value = std::string_view(static_cast<const char*>(m->payload), m->len);
  }
  return out;
}

// ---------------------------------------------------------------------------
// KafkaConsumer

struct KafkaConsumer::Impl {
  rd_kafka_t* rk = nullptr;
  rd_kafka_queue_t* queue = nullptr;  // the consumer queue (messages and callbacks)
  RebalanceListener* listener = nullptr;
  mutable std::mutex mu;  // assignment
  std::vector<TopicPartition> assignment;
  bool debug = false;  // the "debug" property is set: log librdkafka's debug lines
  int takeover_grace_ms = 0;
  // What this member held before the last revocation: partitions assigned
  // again need no grace (see KafkaConsumerOptions::takeover_grace_ms).
  std::vector<TopicPartition> held_before;
  // Partitions revoked during the current Poll (the rebalance callback runs
  // inside rd_kafka_consume_batch_queue): messages of theirs that Poll already
  // gathered were fetched under the old assignment and must not be handed
  // out, or they would be stored after the listener committed past them.
  std::vector<TopicPartition> revoked_in_poll;
  bool paused = false;
  bool closed = false;
  std::atomic<uint64_t> transient_errors{0};
  RateLimitedLog log;

  ~Impl() {
    if (queue != nullptr) rd_kafka_queue_destroy(queue);
    if (rk != nullptr) rd_kafka_destroy(rk);
  }

  static void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* parts, void* opaque) {
    static_cast<Impl*>(opaque)->Rebalance(rk, err, parts);
  }

  static void OnError(rd_kafka_t* /*rk*/, int err, const char* reason, void* opaque) {
    auto* impl = static_cast<Impl*>(opaque);
    impl->transient_errors.fetch_add(1, std::memory_order_relaxed);
    impl->log.Log(std::string(rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err))) + ": " +
                  reason);
  }

  static void OnLog(const rd_kafka_t* rk, int level, const char* facility, const char* buf) {
    // Warnings and worse; librdkafka's debug lines only when the "debug"
    // property asked for them.
    auto* impl = static_cast<Impl*>(rd_kafka_opaque(rk));
    if (impl == nullptr || (level > 4 && !impl->debug)) return;
    impl->log.Log(std::string(facility) + ": " + buf);
  }

  static void OnCommit(rd_kafka_t* /*rk*/, rd_kafka_resp_err_t err,
                       rd_kafka_topic_partition_list_t* offsets, void* opaque) {
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
    // A request can succeed as a whole and fail for some partitions.
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && offsets != nullptr) {
      for (int i = 0; i < offsets->cnt; ++i) {
        if (offsets->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          err = offsets->elems[i].err;
          break;
        }
      }
    }
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
    auto* impl = static_cast<Impl*>(opaque);
    impl->transient_errors.fetch_add(1, std::memory_order_relaxed);
    impl->log.Log(std::string("offset commit failed (the store keeps the positions): ") +
                  rd_kafka_err2str(err));
  }

  bool Cooperative() const {
    const char* protocol = rd_kafka_rebalance_protocol(rk);
    return protocol != nullptr && std::strcmp(protocol, "COOPERATIVE") == 0;
  }

  void Rebalance(rd_kafka_t* handle, rd_kafka_resp_err_t err,
                 rd_kafka_topic_partition_list_t* parts) {
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      std::vector<PartitionOffset> wanted;
      std::vector<PartitionOffset> committed;
      if (takeover_grace_ms > 0) {
        std::vector<TopicPartition> held;
        {
          std::scoped_lock lock(mu);
          held = held_before;
          held.insert(held.end(), assignment.begin(), assignment.end());
        }
        bool taking_over = false;
        for (int i = 0; i < parts->cnt && !taking_over; ++i) {
          const TopicPartition tp{parts->elems[i].topic, parts->elems[i].partition};
          taking_over = !Contains(held, tp);
        }
        if (taking_over) {
          std::this_thread::sleep_for(std::chrono::milliseconds(takeover_grace_ms));
        }
      }
      PartitionList query(rd_kafka_topic_partition_list_copy(parts));
      const rd_kafka_resp_err_t committed_err = rd_kafka_committed(handle, query.get(), 10000);
      if (committed_err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log.Log(std::string("reading committed offsets failed: ") +
                rd_kafka_err2str(committed_err));
      }
      for (int i = 0; i < parts->cnt; ++i) {
        const rd_kafka_topic_partition_t& p = parts->elems[i];
        wanted.push_back(PartitionOffset{p.topic, p.partition, kOffsetUnset});
        const rd_kafka_topic_partition_t& c = query->elems[i];
        committed.push_back(PartitionOffset{
            c.topic, c.partition,
            committed_err == RD_KAFKA_RESP_ERR_NO_ERROR && c.err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                    c.offset >= 0
                ? c.offset
                : kOffsetUnset});
      }
      listener->OnAssign(&wanted, committed);
      for (int i = 0; i < parts->cnt; ++i) {
        parts->elems[i].offset =
            wanted[static_cast<size_t>(i)].offset >= 0 ? wanted[static_cast<size_t>(i)].offset
                                                       : RD_KAFKA_OFFSET_INVALID;
      }
      if (Cooperative()) {
        rd_kafka_error_t* error = rd_kafka_incremental_assign(handle, parts);
        if (error != nullptr) {
          log.Log(std::string("assign failed: ") + rd_kafka_error_string(error));
          rd_kafka_error_destroy(error);
        }
      } else {
        rd_kafka_assign(handle, parts);
      }
      {
        std::scoped_lock lock(mu);
        if (!Cooperative()) assignment.clear();
        held_before.clear();
        for (const PartitionOffset& p : wanted) {
          assignment.push_back(TopicPartition{p.topic, p.partition});
        }
      }
      if (paused) rd_kafka_pause_partitions(handle, parts);
      return;
    }
    // Revoked (or lost): flush first, then let go.
    std::vector<TopicPartition> revoked;
    for (int i = 0; i < parts->cnt; ++i) {
      revoked.push_back(TopicPartition{parts->elems[i].topic, parts->elems[i].partition});
    }
    if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      log.Log(std::string("rebalance error: ") + rd_kafka_err2str(err));
    }
    listener->OnRevoke(revoked);
    revoked_in_poll.insert(revoked_in_poll.end(), revoked.begin(), revoked.end());
    if (Cooperative()) {
      rd_kafka_error_t* error = rd_kafka_incremental_unassign(handle, parts);
      if (error != nullptr) rd_kafka_error_destroy(error);
    } else {
      rd_kafka_assign(handle, nullptr);
    }
    std::scoped_lock lock(mu);
    held_before = assignment;
    std::erase_if(assignment, [&](const TopicPartition& tp) { return Contains(revoked, tp); });
  }

  PartitionList AssignedList() const {
    std::scoped_lock lock(mu);
    PartitionList list = MakeList(assignment.size());
    for (const TopicPartition& tp : assignment) {
      rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition);
    }
    return list;
  }
};

KafkaConsumer::KafkaConsumer() : impl_(std::make_unique<Impl>()) {}

KafkaConsumer::~KafkaConsumer() {
  if (impl_ != nullptr && impl_->rk != nullptr && !impl_->closed) (void)Close();
}

Result<std::unique_ptr<KafkaConsumer>> KafkaConsumer::Create(const KafkaConsumerOptions& options,
                                                             RebalanceListener* listener) {
  if (options.brokers.empty()) return Status::InvalidArgument("kafka: no brokers given");
  if (options.topics.empty()) return Status::InvalidArgument("kafka: no topics given");
  if (options.group.empty()) return Status::InvalidArgument("kafka: the group id is empty");
  for (const auto& [key, value] : options.properties) {
    for (const char* fixed : kFixed) {
      if (key == fixed) {
        return Status::InvalidArgument("kafka property '" + key +
                                       "' is set by faultline (use the flags for brokers and "
                                       "group; offsets are committed after each store write)");
      }
    }
  }
  std::unique_ptr<KafkaConsumer> consumer(new KafkaConsumer());
  Impl& impl = *consumer->impl_;
  impl.listener = listener;
  impl.takeover_grace_ms = options.takeover_grace_ms;

  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char errstr[512];
  auto set = [&](const std::string& key, const std::string& value) -> Status {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
      return Status::InvalidArgument("kafka property '" + key + "': " + errstr);
    }
    return Status::Ok();
  };
  Status status = set("bootstrap.servers", options.brokers);
  if (status.ok()) status = set("group.id", options.group);
  if (status.ok()) status = set("client.id", options.client_id);
  for (const auto& [key, value] : kDefaults) {
    if (status.ok()) status = set(key, value);
  }
  for (const auto& [key, value] : options.properties) {
    if (status.ok()) status = set(key, value);
    if (key == "debug" && !value.empty()) impl.debug = true;
  }
  if (!status.ok()) {
    rd_kafka_conf_destroy(conf);
    return status;
  }
  rd_kafka_conf_set_opaque(conf, &impl);
  rd_kafka_conf_set_rebalance_cb(conf, &Impl::OnRebalance);
  rd_kafka_conf_set_error_cb(conf, &Impl::OnError);
  rd_kafka_conf_set_log_cb(conf, &Impl::OnLog);
  rd_kafka_conf_set_offset_commit_cb(conf, &Impl::OnCommit);

  impl.rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
  if (impl.rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return Status::InvalidArgument(std::string("kafka consumer: ") + errstr);
  }
  rd_kafka_poll_set_consumer(impl.rk);
  impl.queue = rd_kafka_queue_get_consumer(impl.rk);
  PartitionList topics = MakeList(options.topics.size());
  for (const std::string& topic : options.topics) {
    rd_kafka_topic_partition_list_add(topics.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  }
  const rd_kafka_resp_err_t err = rd_kafka_subscribe(impl.rk, topics.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::InvalidArgument(std::string("kafka subscribe: ") + rd_kafka_err2str(err));
  }
  return consumer;
}

Result<KafkaMessages> KafkaConsumer::Poll(size_t max_messages, size_t max_bytes,
                                          int timeout_ms) {
  Impl& impl = *impl_;
  KafkaMessages batch;
  int timeout = timeout_ms;
  impl.revoked_in_poll.clear();
  auto drop_revoked = [&] {
    if (impl.revoked_in_poll.empty()) return;
    std::erase_if(batch.impl_->messages, [&](rd_kafka_message_t* m) {
      const TopicPartition tp{rd_kafka_topic_name(m->rkt), m->partition};
      if (!Contains(impl.revoked_in_poll, tp)) return false;
      batch.impl_->bytes -= m->len + m->key_len;
      rd_kafka_message_destroy(m);
      return true;
    });
    impl.revoked_in_poll.clear();
  };
  // Messages come off the consumer queue a few hundred at a time: one call
  // (one lock, one clock read) per slice rather than per message. The call
  // also serves rebalance callbacks, which is why drop_revoked runs after it.
  rd_kafka_message_t* slice[512];
  while (batch.impl_->messages.size() < max_messages && batch.impl_->bytes < max_bytes) {
    const size_t want = std::min(std::size(slice), max_messages - batch.impl_->messages.size());
    const ssize_t got = rd_kafka_consume_batch_queue(impl.queue, timeout, slice, want);
    if (got <= 0) {
      drop_revoked();
      break;
    }
    timeout = 0;  // then only what is already fetched
    for (ssize_t i = 0; i < got; ++i) {
      rd_kafka_message_t* m = slice[i];
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        batch.impl_->bytes += m->len + m->key_len;
        batch.impl_->messages.push_back(m);
        continue;
      }
      const std::string what = rd_kafka_message_errstr(m);
      const rd_kafka_resp_err_t err = m->err;
      rd_kafka_message_destroy(m);
      if (err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
      char fatal[256];
      if (err == RD_KAFKA_RESP_ERR__FATAL &&
          rd_kafka_fatal_error(impl.rk, fatal, sizeof(fatal)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (ssize_t j = i + 1; j < got; ++j) rd_kafka_message_destroy(slice[j]);
        return Status::Internal(std::string("kafka: fatal client error: ") + fatal);
      }
      impl.transient_errors.fetch_add(1, std::memory_order_relaxed);
      impl.log.Log(std::string(rd_kafka_err2name(err)) + ": " + what);
    }
    drop_revoked();
  }
  return batch;
}

void KafkaConsumer::PauseAll() {
  if (impl_->paused) return;
  impl_->paused = true;
  PartitionList list = impl_->AssignedList();
  rd_kafka_pause_partitions(impl_->rk, list.get());
}

void KafkaConsumer::ResumeAll() {
  if (!impl_->paused) return;
  impl_->paused = false;
  PartitionList list = impl_->AssignedList();
  rd_kafka_resume_partitions(impl_->rk, list.get());
}

bool KafkaConsumer::paused() const { return impl_->paused; }

Status KafkaConsumer::Commit(const std::vector<PartitionOffset>& offsets, bool sync) {
  if (offsets.empty()) return Status::Ok();
  PartitionList list = MakeList(offsets.size());
  for (const PartitionOffset& p : offsets) {
    rd_kafka_topic_partition_list_add(list.get(), p.topic.c_str(), p.partition)->offset =
        p.offset;
  }
  const rd_kafka_resp_err_t err = rd_kafka_commit(impl_->rk, list.get(), sync ? 0 : 1);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
    return Status::Unavailable(std::string("kafka offset commit: ") + rd_kafka_err2str(err));
  }
  return Status::Ok();
}

std::vector<TopicPartition> KafkaConsumer::Assignment() const {
  std::scoped_lock lock(impl_->mu);
  return impl_->assignment;
}

std::vector<PartitionLag> KafkaConsumer::Lag() const {
  PartitionList list = impl_->AssignedList();
  std::vector<PartitionLag> out;
  if (list->cnt == 0) return out;
  rd_kafka_position(impl_->rk, list.get());
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& p = list->elems[i];
    PartitionLag lag;
    lag.topic = p.topic;
    lag.partition = p.partition;
    lag.position = p.offset >= 0 ? p.offset : -1;
    int64_t low = -1;
    int64_t high = -1;
    if (rd_kafka_get_watermark_offsets(impl_->rk, p.topic, p.partition, &low, &high) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        high >= 0) {
      lag.high_watermark = high;
      // Nothing read yet: everything from the low watermark is lag.
      const int64_t from = lag.position >= 0 ? lag.position : std::max<int64_t>(low, 0);
      lag.lag = std::max<int64_t>(0, high - from);
    }
    out.push_back(std::move(lag));
  }
  return out;
}

uint64_t KafkaConsumer::transient_errors() const {
  return impl_->transient_errors.load(std::memory_order_relaxed);
}

Status KafkaConsumer::Close() {
  Impl& impl = *impl_;
  if (impl.closed || impl.rk == nullptr) return Status::Ok();
  impl.closed = true;
  const rd_kafka_resp_err_t err = rd_kafka_consumer_close(impl.rk);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Unavailable(std::string("kafka consumer close: ") + rd_kafka_err2str(err));
  }
  return Status::Ok();
}

}  // namespace faultline::ingest
