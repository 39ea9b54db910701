#include "ingest/kafka_producer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include <librdkafka/rdkafka.h>

namespace faultline::ingest {

namespace {

using Clock = std::chrono::steady_clock;

struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const noexcept { rd_kafka_destroy(rk); }
};
struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const noexcept { rd_kafka_conf_destroy(conf); }
};
struct TopicDeleter {
  void operator()(rd_kafka_topic_t* rkt) const noexcept { rd_kafka_topic_destroy(rkt); }
};
struct HeadersDeleter {
  void operator()(rd_kafka_headers_t* headers) const noexcept { rd_kafka_headers_destroy(headers); }
};
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* metadata) const noexcept {
    rd_kafka_metadata_destroy(metadata);
  }
};
using TopicPtr = std::unique_ptr<rd_kafka_topic_t, TopicDeleter>;

// librdkafka's own log lines, warning and worse (syslog level 4) only.
void LogToStderr(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
  if (level > 4) return;
  std::fprintf(stderr, "faultline: kafka: %s %s: %s\n", rd_kafka_name(rk), facility, message);
}

// Applied before the caller's properties, which may override them; see the
// header for why.
const KeyValues& DefaultProperties() {
  static const KeyValues defaults = {
      {"client.id", "faultline"},
      {"enable.idempotence", "true"},
      {"partitioner", "murmur2_random"},
  };
  return defaults;
}

// Properties whose values must not appear in error messages.
bool IsSecret(std::string_view name) {
  for (std::string_view word : {"password", "secret", "token", "pem", "jaas"}) {
    if (name.find(word) != std::string_view::npos) return true;
  }
  return false;
}

}  // namespace

Status ValidateTopicName(std::string_view topic) {
  bool ok = !topic.empty() && topic.size() <= 249 && topic != "." && topic != "..";
  for (char c : topic) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-');
  }
  if (ok) return Status::Ok();
  return Status::InvalidArgument("bad topic name '" + std::string(topic) +
                                 "': use 1 to 249 of a-z A-Z 0-9 . _ -");
}

Status ProducerOptions::Validate() const {
  if (bootstrap_servers.empty()) {
    return Status::InvalidArgument("no Kafka bootstrap servers given (host:port[,host:port...])");
  }
  if (queue_full_wait_ms < 1) {
    return Status::InvalidArgument("queue_full_wait_ms must be >= 1");
  }
  return Status::Ok();
}

struct KafkaProducer::Impl {
  std::string bootstrap_servers;
  int queue_full_wait_ms = 100;
  const std::atomic<bool>* interrupted = nullptr;

  // Declared before the topic handles, which must be destroyed first.
  std::unique_ptr<rd_kafka_t, HandleDeleter> rk;
  std::map<std::string, TopicPtr, std::less<>> topics;

  std::atomic<uint64_t> produced{0};
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> queue_full_waits{0};
  mutable std::mutex error_mu;
  std::string last_error;          // guarded by error_mu
  std::string last_connect_error;  // guarded by error_mu
  // Set once every broker connection has failed (cleared never: only
  // PartitionCount, before any message, reads it).
  std::atomic<bool> all_brokers_down{false};

  // The cached handle of topic `name`, created on first use.
  Result<rd_kafka_topic_t*> Topic(std::string_view name) {
    auto it = topics.find(name);
    if (it != topics.end()) return it->second.get();
    FL_RETURN_IF_ERROR(ValidateTopicName(name));
    std::string key(name);
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk.get(), key.c_str(), nullptr);
    if (rkt == nullptr) {
      return Status::Internal("topic '" + key + "': " + rd_kafka_err2str(rd_kafka_last_error()));
    }
    topics.emplace(std::move(key), TopicPtr(rkt));
    return rkt;
  }

  // Runs on the thread that polls (Produce/Poll/Flush).
  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
    Impl* impl = static_cast<Impl*>(opaque);
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      impl->delivered.fetch_add(1);
      return;
    }
    std::string error = "topic " + std::string(rd_kafka_topic_name(message->rkt)) + " [" +
                        std::to_string(message->partition) + "]: " + rd_kafka_err2str(message->err);
    {
      std::scoped_lock lock(impl->error_mu);
      impl->last_error = std::move(error);
    }
    impl->failed.fetch_add(1);
  }

  // Client-level errors (brokers down, authentication, fatal idempotence
  // errors). librdkafka keeps retrying after all but fatal ones, so they
  // are reported, not acted on; a fatal one surfaces from Produce().
  // Connection failures are not printed: librdkafka logs each already.
  static void OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    Impl* impl = static_cast<Impl*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
      impl->all_brokers_down.store(true);
      return;
    }
    if (err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__RESOLVE) {
      std::scoped_lock lock(impl->error_mu);
      impl->last_connect_error = reason;
      return;
    }
    std::fprintf(stderr, "faultline: kafka: %s error: %s%s\n", rd_kafka_name(rk), reason,
                 err == RD_KAFKA_RESP_ERR__FATAL ? " (fatal)" : "");
  }

  Status FatalError() {
    char reason[512];
    rd_kafka_resp_err_t err = rd_kafka_fatal_error(rk.get(), reason, sizeof(reason));
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Internal("fatal producer error");
    return Status::Internal(std::string("the Kafka producer stopped on a fatal error: ") +
                            rd_kafka_err2name(err) + ": " + reason);
  }
};

KafkaProducer::KafkaProducer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KafkaProducer::~KafkaProducer() = default;

Result<std::unique_ptr<KafkaProducer>> KafkaProducer::Create(const ProducerOptions& options) {
  FL_RETURN_IF_ERROR(options.Validate());
  auto impl = std::make_unique<Impl>();
  impl->bootstrap_servers = options.bootstrap_servers;
  impl->queue_full_wait_ms = options.queue_full_wait_ms;
  impl->interrupted = options.interrupted;

  std::unique_ptr<rd_kafka_conf_t, ConfDeleter> conf(rd_kafka_conf_new());
  char errstr[512];
  auto set = [&](const std::string& name, const std::string& value) -> Status {
    if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), errstr, sizeof(errstr)) ==
        RD_KAFKA_CONF_OK) {
      return Status::Ok();
    }
    std::string shown_value = value;
    std::string reason = errstr;
    if (IsSecret(name) && !value.empty()) {
      shown_value = "<hidden>";
      for (size_t at; (at = reason.find(value)) != std::string::npos;) {
        reason.replace(at, value.size(), shown_value);
      }
    }
    return Status::InvalidArgument("Kafka property " + name + "=" + shown_value + ": " + reason);
  };
  for (const auto& [name, value] : DefaultProperties()) FL_RETURN_IF_ERROR(set(name, value));
  FL_RETURN_IF_ERROR(set("bootstrap.servers", options.bootstrap_servers));
  for (const auto& [name, value] : options.properties) FL_RETURN_IF_ERROR(set(name, value));
  rd_kafka_conf_set_log_cb(conf.get(), LogToStderr);
  rd_kafka_conf_set_error_cb(conf.get(), Impl::OnError);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), Impl::OnDelivery);
  rd_kafka_conf_set_opaque(conf.get(), impl.get());

  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof(errstr));
  if (rk == nullptr) {
    // Property combinations are checked here (e.g. idempotence with acks=1).
    return Status::InvalidArgument(std::string("cannot create the Kafka producer: ") + errstr);
  }
  conf.release();  // rk owns it now
  impl->rk.reset(rk);
  return std::unique_ptr<KafkaProducer>(new KafkaProducer(std::move(impl)));
}

Result<int> KafkaProducer::PartitionCount(const std::string& topic, int timeout_ms) {
  FL_ASSIGN_OR_RETURN(rd_kafka_topic_t * rkt, impl_->Topic(topic));
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  // Short metadata requests in a loop, so that "every broker refused the
  // connection" ends the wait at once instead of after the whole timeout.
  constexpr int64_t kStepMs = 500;
  for (;;) {
    const int64_t left_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    const rd_kafka_metadata_t* raw = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(
        impl_->rk.get(), 0, rkt, &raw, static_cast<int>(std::clamp<int64_t>(left_ms, 1, kStepMs)));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_poll(impl_->rk.get(), 0);  // error events reach OnError only here
      const bool gave_up = impl_->all_brokers_down.load() || Clock::now() >= deadline;
      if (!gave_up) continue;
      std::string detail;
      {
        std::scoped_lock lock(impl_->error_mu);
        detail = impl_->last_connect_error.empty() ? rd_kafka_err2str(err)
                                                   : impl_->last_connect_error;
      }
      return Status::Unavailable("cannot reach any Kafka broker at " + impl_->bootstrap_servers +
                                 " (" + detail + "); is the address right and the broker up?");
    }
    std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter> metadata(raw);
    rd_kafka_resp_err_t topic_err = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
    int partitions = 0;
    for (int i = 0; i < metadata->topic_cnt; ++i) {
      if (topic == metadata->topics[i].topic) {
        topic_err = metadata->topics[i].err;
        partitions = metadata->topics[i].partition_cnt;
      }
    }
    if (topic_err == RD_KAFKA_RESP_ERR_NO_ERROR && partitions > 0) return partitions;
    if (topic_err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
      return Status::NotFound("topic '" + topic + "' does not exist at " +
                              impl_->bootstrap_servers +
                              " and the brokers do not create topics on demand: create it first");
    }
    // Typically LEADER_NOT_AVAILABLE while a topic is being created.
    if (Clock::now() >= deadline) {
      return Status::Unavailable("topic '" + topic + "' at " + impl_->bootstrap_servers +
                                 " is not ready after " + std::to_string(timeout_ms) +
                                 " ms: " + rd_kafka_err2str(topic_err));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Status KafkaProducer::Produce(std::string_view topic, std::string_view key, std::string_view value,
                              const KeyValues& headers) {
  FL_ASSIGN_OR_RETURN(rd_kafka_topic_t * rkt, impl_->Topic(topic));
  for (;;) {
    // producev takes the headers only on success, so they are rebuilt per try.
    std::unique_ptr<rd_kafka_headers_t, HeadersDeleter> list;
    if (!headers.empty()) {
      list.reset(rd_kafka_headers_new(headers.size()));
      for (const auto& [name, header_value] : headers) {
        rd_kafka_header_add(list.get(), name.data(), static_cast<ssize_t>(name.size()),
                            header_value.data(), static_cast<ssize_t>(header_value.size()));
      }
    }
    // librdkafka's macros take non-const pointers; with MSG_F_COPY it only reads.
    rd_kafka_resp_err_t err = rd_kafka_producev(
        impl_->rk.get(), RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_KEY(key.empty() ? nullptr : key.data(), key.size()),
        RD_KAFKA_V_HEADERS(list.get()), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      [[maybe_unused]] rd_kafka_headers_t* owned_by_message = list.release();
      impl_->produced.fetch_add(1);
      rd_kafka_poll(impl_->rk.get(), 0);  // serve delivery reports
      return Status::Ok();
    }
    switch (err) {
      case RD_KAFKA_RESP_ERR__QUEUE_FULL:
        if (impl_->interrupted != nullptr && impl_->interrupted->load()) {
          return Status::Unavailable("interrupted while waiting for room in the producer queue");
        }
        impl_->queue_full_waits.fetch_add(1);
        rd_kafka_poll(impl_->rk.get(), impl_->queue_full_wait_ms);
        continue;
      case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        return Status::InvalidArgument("message of " + std::to_string(value.size() + key.size()) +
                                       " bytes is larger than message.max.bytes allows");
      case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
      case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
        return Status::NotFound("topic '" + std::string(topic) + "': " + rd_kafka_err2str(err));
      case RD_KAFKA_RESP_ERR__FATAL:
        return impl_->FatalError();
      default:
        return Status::Internal("cannot produce to '" + std::string(topic) +
                                "': " + rd_kafka_err2str(err));
    }
  }
}

void KafkaProducer::Poll(int timeout_ms) { rd_kafka_poll(impl_->rk.get(), timeout_ms); }

Status KafkaProducer::Flush(int timeout_ms) {
  // The outcome is read from the delivery counters, which flush's polling
  // brings up to date, rather than from flush's own result, which also
  // counts non-message requests.
  rd_kafka_flush(impl_->rk.get(), timeout_ms);
  ProducerCounters c = counters();
  if (c.in_flight() > 0) {
    return Status::Unavailable(std::to_string(c.in_flight()) + " message(s) still in flight after " +
                               std::to_string(timeout_ms) + " ms (" + std::to_string(c.delivered) +
                               " delivered); are the brokers at " + impl_->bootstrap_servers +
                               " reachable?");
  }
  if (c.failed > 0) {
    return Status::Unavailable(std::to_string(c.failed) + " of " + std::to_string(c.produced) +
                               " message(s) failed delivery; last error: " + c.last_error);
  }
  return Status::Ok();
}

ProducerCounters KafkaProducer::counters() const {
  ProducerCounters c;
  // delivered and failed first (sequentially consistent loads): a report
  // landing in between can then only make in_flight() look larger, never
  // wrap below zero.
  c.delivered = impl_->delivered.load();
  c.failed = impl_->failed.load();
  c.produced = impl_->produced.load();
  c.queue_full_waits = impl_->queue_full_waits.load();
  std::scoped_lock lock(impl_->error_mu);
  c.last_error = impl_->last_error;
  return c;
}

}  // namespace faultline::ingest
